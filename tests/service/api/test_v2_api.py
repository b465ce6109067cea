"""The /v2 (Open Inference Protocol) routes over raw HTTP: answers, every error case, metrics, docs."""

from __future__ import annotations

import copy
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings
from service.main import create_app
from testkit.shipped import newest_shipped

MODEL = "mnist-mlp"  # what the `client` fixture serves
VERSION = str(newest_shipped(MODEL))  # the version it serves
INFER = f"/v2/models/{MODEL}/infer"
BODY_LIMIT = 4096
ZERO_IMAGE = [0] * 784


def tensor(data: Any, shape: list[int], datatype: str = "UINT8", name: str = "images",
           **parameters: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "shape": shape, "datatype": datatype}
    if data is not None:
        entry["data"] = data
    if parameters:
        entry["parameters"] = parameters
    return entry


def request(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def binary_request(arr: np.ndarray, datatype: str, declared: int | None = None,
                   **extra: Any) -> tuple[bytes, dict[str, str]]:
    """(body, headers) with `arr` as a binary tensor; `declared` overrides its binary_data_size."""
    blob = arr.tobytes()
    size = len(blob) if declared is None else declared
    header = request(tensor(None, list(arr.shape), datatype, binary_data_size=size), **extra)
    return header + blob, {"Inference-Header-Content-Length": str(len(header)),
                           "Content-Type": "application/octet-stream"}


def assert_v2_error(response: Any, status: int, *words: str) -> str:
    """The protocol's error body, exactly {"error": message}; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert response.headers["x-request-id"]
    for word in words:
        assert word in body["error"], (word, body["error"])
    message: str = body["error"]
    return message


def outputs_of(response: Any) -> dict[str, np.ndarray]:
    """{name: array} from a JSON inference response."""
    assert response.status_code == 200, response.text
    return {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in response.json()["outputs"]}


# ---- health and metadata

def test_health_answers_the_protocol_bodies(client: TestClient) -> None:
    expected = {"/v2/health/live": {"live": True}, "/v2/health/ready": {"ready": True},
                f"/v2/models/{MODEL}/ready": {"name": MODEL, "ready": True},
                f"/v2/models/{MODEL}/versions/{VERSION}/ready": {"name": MODEL, "ready": True}}
    for path, body in expected.items():
        response = client.get(path)
        assert response.headers["content-type"] == "application/json", path
        assert (response.status_code, response.json()) == (200, body), path
    assert_v2_error(client.get(f"/v2/models/{MODEL}/versions/999/ready"), 404, "unknown version '999'")


def test_server_metadata_at_both_paths_lists_the_extensions_served(client: TestClient,
                                                                   weights_dir: Path) -> None:
    served = ["binary_tensor_data", "model_configuration", "statistics"]
    for path in ("/v2", "/v2/"):  # the protocol's documents give /v2/; no redirect
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.json()) == (
            200, {"name": "mnist-serve", "version": "0.1.0", "extensions": served}), path
    settings = Settings(weights_dir=weights_dir, model=MODEL, admin_token="s3cret")
    with TestClient(create_app(settings)) as with_token:
        assert with_token.get("/v2/").json()["extensions"] == [*served, "model_repository"]


@pytest.mark.parametrize("path", [f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/{VERSION}"])
def test_model_metadata(client: TestClient, path: str) -> None:
    assert client.get(path).json() == {
        "name": MODEL, "versions": [VERSION], "platform": "numpy_npz",
        "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
                    {"name": "digit", "datatype": "INT64", "shape": [-1]},
                    {"name": "is_digit", "datatype": "BOOL", "shape": [-1]}]}


# ---- inference that works

def test_nested_and_flat_json_agree_with_v1_and_echo_the_id(client: TestClient, seven: np.ndarray) -> None:
    batch = np.stack([seven, np.zeros_like(seven), seven.T])
    v1 = client.post("/v1/predict/batch", json={"images": batch.tolist()}).json()["predictions"]
    nested = client.post(INFER, content=request(tensor(batch.tolist(), [3, 28, 28]), id="req-1"))
    flat = client.post(INFER, content=request(tensor(batch.ravel().tolist(), [3, 784], "FP32"),
                                              id="req-2", parameters={"anything": "goes", "n": 3}))
    assert nested.headers["content-type"] == "application/json"
    assert "inference-header-content-length" not in nested.headers
    assert (nested.json()["id"], flat.json()["id"]) == ("req-1", "req-2")
    assert (nested.json()["model_name"], nested.json()["model_version"]) == (MODEL, VERSION)
    for response in (nested, flat):
        out = outputs_of(response)
        assert [o["name"] for o in response.json()["outputs"]] == ["probabilities", "digit", "is_digit"]
        assert out["digit"].tolist() == [p["digit"] for p in v1]
        assert out["is_digit"].tolist() == [p["is_digit"] for p in v1]
        assert out["is_digit"].tolist()[:2] == [True, False]  # the seven, the blank image
        assert out["digit"][0] == 7
        np.testing.assert_allclose(out["probabilities"], [p["probabilities"] for p in v1], rtol=0, atol=1e-7)


def test_without_an_id_none_is_invented(client: TestClient, seven: np.ndarray) -> None:
    response = client.post(INFER, content=request(tensor([seven.tolist()], [1, 28, 28])))
    assert outputs_of(response)["digit"].tolist() == [7]
    assert "id" not in response.json()


def test_versioned_infer_and_requested_outputs_in_order(client: TestClient, seven: np.ndarray) -> None:
    body = request(tensor([[seven.tolist()]], [1, 1, 28, 28]), outputs=[{"name": "digit"}])
    response = client.post(f"/v2/models/{MODEL}/versions/{VERSION}/infer", content=body)
    assert response.json()["outputs"] == [{"name": "digit", "datatype": "INT64", "shape": [1], "data": [7]}]
    both = request(tensor([seven.tolist()], [1, 28, 28]),
                   outputs=[{"name": "digit"}, {"name": "probabilities"}])
    names = [o["name"] for o in client.post(INFER, content=both).json()["outputs"]]
    assert names == ["digit", "probabilities"]
    blank = request(tensor([ZERO_IMAGE], [1, 784]), outputs=[{"name": "is_digit"}])
    assert client.post(INFER, content=blank).json()["outputs"] == [
        {"name": "is_digit", "datatype": "BOOL", "shape": [1], "data": [False]}]


def test_binary_input_and_binary_outputs(client: TestClient, seven: np.ndarray) -> None:
    images = np.stack([seven, seven]).astype(np.float32)
    body, headers = binary_request(images, "FP32", id="bin", parameters={"binary_data_output": True})
    response = client.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    length = int(response.headers["inference-header-content-length"])
    header = orjson.loads(response.content[:length])
    assert header["id"] == "bin"
    assert [(o["name"], o["shape"], o["parameters"]) for o in header["outputs"]] == [
        ("probabilities", [2, 10], {"binary_data_size": 80}), ("digit", [2], {"binary_data_size": 16}),
        ("is_digit", [2], {"binary_data_size": 2})]
    blob = response.content[length:]
    assert len(blob) == 98
    proba = np.frombuffer(blob[:80], "<f4").reshape(2, 10)
    assert np.frombuffer(blob[80:96], "<i8").tolist() == [7, 7]
    assert blob[96:] == b"\x01\x01"  # BOOL: one byte each
    json_body = request(tensor(images.tolist(), [2, 28, 28], "FP32"))
    json_answer = outputs_of(client.post(INFER, content=json_body))
    np.testing.assert_array_equal(proba, json_answer["probabilities"].astype(np.float32))


@pytest.mark.parametrize("datatype", ["FP32", "UINT8"])
def test_raw_binary_request_is_one_image_answered_in_binary(client: TestClient, seven: np.ndarray,
                                                            datatype: str) -> None:
    raw = seven.astype("<f4" if datatype == "FP32" else "u1").tobytes()
    response = client.post(INFER, content=raw, headers={"Inference-Header-Content-Length": "0",
                                                        "Content-Type": "application/octet-stream"})
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    header = orjson.loads(response.content[:length])
    assert [(o["name"], o["shape"]) for o in header["outputs"]] == [
        ("probabilities", [1, 10]), ("digit", [1]), ("is_digit", [1])]
    assert all("data" not in o for o in header["outputs"])  # every output binary
    assert np.frombuffer(response.content[length + 40 : length + 48], "<i8").tolist() == [7]


def test_raw_binary_request_of_the_wrong_size_says_what_fits(client: TestClient) -> None:
    response = client.post(INFER, content=b"\0" * 100, headers={"Inference-Header-Content-Length": "0"})
    assert_v2_error(response, 400, "raw binary request", "3136 bytes of FP32 or 784 bytes of UINT8",
                    "got 100 bytes")


def test_binary_body_without_the_header_length_says_it_is_missing(client: TestClient,
                                                                  seven: np.ndarray) -> None:
    body, headers = binary_request(seven[None], "UINT8")
    del headers["Inference-Header-Content-Length"]
    message = assert_v2_error(client.post(INFER, content=body, headers=headers), 400,
                              "Inference-Header-Content-Length header is missing")
    assert "malformed JSON" not in message
    raw = client.post(INFER, content=seven.astype("<f4").tobytes())  # not UTF-8, no Content-Type
    assert_v2_error(raw, 400, "Inference-Header-Content-Length header is missing")


def test_gzip_request_body(client: TestClient, seven: np.ndarray) -> None:
    body, headers = binary_request(seven[None], "UINT8")
    headers["Content-Encoding"] = "gzip"
    response = client.post(INFER, content=gzip.compress(body), headers=headers)
    assert outputs_of(response)["digit"].tolist() == [7]


# ---- metrics and OpenAPI

def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(client.get("/metrics").text) for s in family.samples}


def test_metrics_count_v2_routes_by_template(client: TestClient, seven: np.ndarray) -> None:
    before = scrape(client)
    ok = request(tensor([seven.tolist()] * 3, [3, 28, 28]))
    for _ in range(2):
        assert client.post(INFER, content=ok).status_code == 200
    assert client.post(f"/v2/models/{MODEL}/versions/{VERSION}/infer", content=b"{").status_code == 400
    assert client.get(f"/v2/models/{MODEL}").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    after = scrape(client)

    def delta(metric: str, **labels: str) -> float:
        key = (metric, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    total = "mnist_requests_total"
    rest = {"protocol": "rest", "method": "POST"}
    assert delta(total, **rest, route="/v2/models/{name}/infer", status="200") == 2
    assert delta(total, **rest, route="/v2/models/{name}/versions/{version}/infer", status="400") == 1
    assert delta(total, protocol="rest", route="/v2/models/{name}", method="GET", status="200") == 1
    assert delta(total, protocol="rest", route="/v2/health/ready", method="GET", status="200") == 0  # probe
    assert delta("mnist_images_predicted_total") == 6
    assert delta("mnist_predictions_total", digit="7") == 6
    routes = {dict(labels)["route"] for name, labels in after if name == total}
    assert not any(MODEL in route for route in routes)  # templates, not raw paths


@pytest.fixture(scope="module")
def openapi(client: TestClient) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/openapi.json").json()
    return spec


V2_ROUTES = [("get", "/v2"), ("get", "/v2/health/live"), ("get", "/v2/health/ready"),
             ("get", "/v2/models/{name}"), ("get", "/v2/models/{name}/versions/{version}"),
             ("get", "/v2/models/{name}/ready"), ("get", "/v2/models/{name}/versions/{version}/ready"),
             ("post", "/v2/models/{name}/infer"), ("post", "/v2/models/{name}/versions/{version}/infer"),
             ("get", "/v2/"), ("get", "/v2/models/{name}/config"),
             ("get", "/v2/models/{name}/versions/{version}/config"), ("get", "/v2/models/stats"),
             ("get", "/v2/models/{name}/stats"), ("get", "/v2/models/{name}/versions/{version}/stats")]


@pytest.mark.parametrize(("method", "path"), V2_ROUTES)
def test_v2_routes_are_documented(openapi: dict[str, Any], method: str, path: str) -> None:
    operation = openapi["paths"][path][method]
    assert operation["tags"] == ["open-inference-protocol"]
    assert operation["description"]
    assert "422" not in operation["responses"]  # /v2 reports bad input as 400


@pytest.mark.parametrize("path", ["/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"])
def test_documented_infer_example_works_as_sent(client: TestClient, openapi: dict[str, Any],
                                                path: str) -> None:
    operation = openapi["paths"][path]["post"]
    content = operation["requestBody"]["content"]
    assert "application/octet-stream" in content
    assert content["application/json"]["schema"]["properties"]["inputs"]["items"]["properties"]["shape"]
    example = copy.deepcopy(content["application/json"]["example"])
    response = client.post(path.format(name=MODEL, version=VERSION), json=example)
    assert outputs_of(response)["digit"].tolist() == [7]
    assert response.json()["id"] == example["id"]
