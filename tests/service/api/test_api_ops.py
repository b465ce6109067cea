"""Health checks, Prometheus metrics, and the OpenAPI documentation."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings
from service.main import create_app
from testkit.shipped import newest_shipped, served_ref

ZEROS = [[0] * 28 for _ in range(28)]


# ---- health

def test_live(client: TestClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_with_a_model(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model": served_ref("mnist-mlp")}


@pytest.fixture(scope="module")
def unloaded_client(weights_dir: Path) -> Iterator[TestClient]:
    app = create_app(Settings(weights_dir=weights_dir, model="mnist-mlp"), load=False)
    with TestClient(app) as test_client:
        yield test_client


def assert_not_ready(response: Any) -> None:
    assert response.status_code == 503
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == "not_ready"
    assert "no model" in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


def test_not_ready_without_a_model(unloaded_client: TestClient) -> None:
    assert_not_ready(unloaded_client.get("/health/ready"))
    assert unloaded_client.get("/health/live").status_code == 200


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/predict"), ("POST", "/v1/predict/batch"),
                                              ("GET", "/v1/model")])
def test_model_routes_are_503_without_a_model(unloaded_client: TestClient, method: str, path: str) -> None:
    body = {"pixels": ZEROS} if path == "/v1/predict" else {"images": [ZEROS]}
    response = unloaded_client.request(method, path, json=body if method == "POST" else None)
    assert_not_ready(response)


def test_models_list_says_nothing_is_loaded(unloaded_client: TestClient) -> None:
    body = unloaded_client.get("/v1/models").json()
    assert body["loaded"] is None
    assert any(m["name"] == "mnist-mlp" for m in body["models"])


# ---- metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, metric: str, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


def test_metrics_count_requests_images_batches_and_digits(client: TestClient,
                                                          example_digit: dict[str, Any]) -> None:
    seven = example_digit["pixels"]
    before = scrape(client)
    for _ in range(3):
        assert client.post("/v1/predict", json={"pixels": seven}).status_code == 200
    assert client.post("/v1/predict/batch", json={"images": [seven, seven, ZEROS, seven]}).status_code == 200
    assert client.post("/v1/predict", json={"pixels": [0] * 783}).status_code == 422
    zeros_digit = client.post("/v1/predict", json={"pixels": ZEROS}).json()["digit"]
    after = scrape(client)

    def delta(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    requests = "mnist_requests_total"
    assert delta(requests, protocol="rest", route="/v1/predict", method="POST", status="200") == 4
    assert delta(requests, protocol="rest", route="/v1/predict", method="POST", status="422") == 1
    assert delta(requests, protocol="rest", route="/v1/predict/batch", method="POST", status="200") == 1
    assert delta("mnist_request_duration_seconds_count", protocol="rest", route="/v1/predict", method="POST",
                 status="200") == 4
    assert delta("mnist_images_predicted_total") == 3 + 4 + 1
    assert delta("mnist_batch_size_count") == 5
    assert delta("mnist_batch_size_sum") == 3 + 4 + 1
    assert delta("mnist_batch_size_bucket", le="1.0") == 4
    assert delta("mnist_batch_size_bucket", le="4.0") == 5
    expected_digits = {"7": 3 + 3}
    expected_digits[str(zeros_digit)] = expected_digits.get(str(zeros_digit), 0) + 2
    for digit in map(str, range(10)):
        assert delta("mnist_predictions_total", digit=digit) == expected_digits.get(digit, 0), digit
    assert delta("mnist_not_a_digit_images_total") == 2  # the two blank images
    assert value(after, "mnist_model_info", name="mnist-mlp",
                 version=str(newest_shipped("mnist-mlp")), role="served") == 1


def test_no_created_series_and_openmetrics_when_asked(client: TestClient) -> None:
    assert client.post("/v1/predict", json={"pixels": ZEROS}).status_code == 200
    text = client.get("/metrics").text
    assert "mnist_requests_total{" in text and "_created" not in text
    open_metrics = client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF") and "_created" not in open_metrics.text
    assert "# TYPE mnist_requests counter" in open_metrics.text


def test_health_metrics_and_unknown_paths_are_not_traffic(client: TestClient) -> None:
    before = scrape(client)
    for path in ("/health/live", "/health/ready", "/metrics", "/health/live"):
        assert client.get(path).status_code == 200
    after = scrape(client)
    counted = {key: v for key, v in after.items() if key[0] == "mnist_requests_total"}
    changed = {key for key, v in counted.items() if v != value(before, key[0], **dict(key[1]))}
    assert changed == set()
    routes = {dict(labels)["route"] for name, labels in after if name == "mnist_requests_total"}
    assert not any(r.startswith("/health") or r == "/metrics" for r in routes)


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    for path in ("/a", "/b/c", "/v1/predictx"):
        assert client.get(path).status_code == 404
    routes = {dict(labels)["route"] for name, labels in scrape(client) if name == "mnist_requests_total"}
    assert "unmatched" in routes
    assert not {"/a", "/b/c", "/v1/predictx"} & routes


def test_invented_http_methods_share_one_metric_label(client: TestClient) -> None:
    for method in ("FOO", "BAR", "X" * 2000):
        assert client.request(method, "/v1/predict").status_code == 405
    series = scrape(client)
    methods = {dict(labels)["method"] for name, labels in series if name == "mnist_requests_total"}
    assert "OTHER" in methods
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER"}


@pytest.mark.parametrize("enabled", [True, False])
def test_access_log_setting(weights_dir: Path, capsys: pytest.CaptureFixture[str], enabled: bool) -> None:
    settings = Settings(weights_dir=weights_dir, model="mnist-mlp", access_log=enabled)
    with TestClient(create_app(settings)) as test_client:
        capsys.readouterr()
        ids = [test_client.get(path).headers["x-request-id"] for path in ("/v1/model", "/nope")]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"msg":"request"' in line]
    if not enabled:
        assert lines == []
        return
    assert [(e["request_id"], e["route"], e["status"], e["logger"], e["level"]) for e in lines] == [
        (ids[0], "/v1/model", 200, "service.access", "info"),
        (ids[1], "unmatched", 404, "service.access", "info")]
    assert all(e["duration_ms"] >= 0 and e["method"] == "GET" and e["ts"].endswith("+00:00") for e in lines)


# ---- OpenAPI and docs

@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


PREDICT_ROUTES = ["/v1/predict", "/v1/predict/batch"]


@pytest.mark.parametrize("path", PREDICT_ROUTES)
def test_predict_routes_document_their_body_with_an_example(openapi: dict[str, Any], path: str) -> None:
    body = openapi["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    media = body["content"]["application/json"]
    assert media["example"]
    properties = media["schema"]["properties"]
    assert properties and all(p.get("description") for p in properties.values())
    responses = openapi["paths"][path]["post"]["responses"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(responses)


@pytest.mark.parametrize("path", PREDICT_ROUTES)
def test_documented_examples_work_as_is(client: TestClient, openapi: dict[str, Any], path: str) -> None:
    example = copy.deepcopy(openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]
                            ["example"])
    response = client.post(path, json=example)
    assert response.status_code == 200, response.text
    body = response.json()
    predictions = body.get("predictions", [body])
    assert len(predictions) == len(example.get("images", [None]))
    assert all(p["digit"] == 7 for p in predictions)


def schema_properties(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, schema in openapi["components"]["schemas"].items():
        for prop, spec in schema.get("properties", {}).items():
            yield name, prop, spec


@pytest.mark.parametrize("schema", ["Prediction", "BatchPredictionResponse", "ModelRef", "ErrorInfo",
                                    "ErrorDetail", "ModelInfo", "ModelList"])
def test_response_schemas_describe_every_field(openapi: dict[str, Any], schema: str) -> None:
    properties = openapi["components"]["schemas"][schema]["properties"]
    assert properties
    assert {p for p, spec in properties.items() if not spec.get("description")} == set()


def test_every_component_schema_property_has_a_description(openapi: dict[str, Any]) -> None:
    undocumented = [f"{name}.{prop}" for name, prop, spec in schema_properties(openapi)
                    if not spec.get("description")]
    assert undocumented == []


@pytest.mark.parametrize(("path", "marker"), [("/docs", "swagger"), ("/redoc", "redoc")])
def test_docs_pages_are_html(client: TestClient, path: str, marker: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text.lower()
    assert "/openapi.json" in response.text


BLAS_THREADS_PROBE = """
import asyncio, json
from threadpoolctl import threadpool_info
from service.main import create_app

async def main():
    app = create_app()
    async with app.router.lifespan_context(app):
        print(json.dumps([lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]))

asyncio.run(main())
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_blas_threads_setting_is_applied_in_the_serving_process(weights_dir: Path, threads: int) -> None:
    # A process of its own: like uvicorn, it starts the app in its main thread (OpenBLAS ignores a
    # raise of its thread count from another thread, such as TestClient's).
    env = {**os.environ, "MNIST_BLAS_THREADS": str(threads), "MNIST_WEIGHTS_DIR": str(weights_dir),
           "MNIST_MODEL": "mnist-mlp", "MNIST_LOG_LEVEL": "warning"}
    out = subprocess.run([sys.executable, "-c", BLAS_THREADS_PROBE], env=env, capture_output=True, text=True,
                         timeout=60, check=True, cwd=weights_dir.parent)
    counts = json.loads(out.stdout)
    if not counts:
        pytest.skip("NumPy here reports no BLAS library to threadpoolctl")
    assert set(counts) == {threads}
