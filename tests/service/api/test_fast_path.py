"""The request fast path: short work on the event loop, long work in the thread pool, and routes
whose endpoints need no parameter resolution called directly, with the same answers and errors."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from anyio import CapacityLimiter
from fastapi import Request
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import Response

from service.api.direct_route import DirectDispatch, DirectRoute, direct_parameters
from service.api.routes import predict, v2
from service.config import Settings
from service.dataplane import offload
from service.main import create_app
from testkit.shipped import newest_shipped


def where_it_ran(seconds: float) -> str:
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await offload.run(CapacityLimiter(2), seconds, threading.get_ident)

    loop_thread, work_thread = asyncio.run(main())
    return "inline" if loop_thread == work_thread else "thread pool"


def test_short_work_runs_inline_and_long_work_in_the_thread_pool() -> None:
    assert where_it_ran(offload.INLINE_SECONDS / 10) == "inline"
    assert where_it_ran(offload.INLINE_SECONDS * 10) == "thread pool"


def test_a_long_parse_and_its_work_share_one_hop_and_a_short_one_stays_inline() -> None:
    async def threads(parse_seconds: float, work_seconds: float) -> tuple[int, int, int]:
        loop = threading.get_ident()
        parse_thread, work_thread = await offload.parse_then_run(
            CapacityLimiter(2), threading.get_ident, parse_seconds,
            lambda parsed: (parsed, threading.get_ident()), lambda parsed: work_seconds)
        return loop, parse_thread, work_thread

    loop, parsed_in, worked_in = asyncio.run(threads(offload.PARSE_INLINE_SECONDS * 2, 0))
    assert parsed_in == worked_in != loop
    loop, parsed_in, worked_in = asyncio.run(threads(offload.PARSE_INLINE_SECONDS / 2, 0))
    assert parsed_in == worked_in == loop
    loop, parsed_in, worked_in = asyncio.run(threads(offload.PARSE_INLINE_SECONDS / 2, 1.0))
    assert parsed_in == loop != worked_in


def test_pool_work_waits_for_a_token_so_at_most_the_limit_runs_at_once() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async def main() -> None:
        limiter = CapacityLimiter(3)
        await asyncio.gather(*(offload.run(limiter, 1.0, work) for _ in range(12)))

    asyncio.run(main())
    assert most == 3


def test_one_image_is_short_and_a_large_batch_is_not(weights_dir: Path) -> None:
    with TestClient(create_app(Settings(weights_dir=weights_dir, model="mnist-cnn"))) as client:
        model = client.app.state.dataplane.registry.default_model()  # type: ignore[attr-defined]
    # measured at load: one image's forward pass is ~0.3-0.5 ms here, but a loaded machine (CI
    # beside other work) once measured 1.002 ms; what routing needs is the order of the two
    assert 0 < model.forward_seconds(1) < model.forward_seconds(256)
    assert model.forward_seconds(256) > offload.INLINE_SECONDS
    assert offload.parse_seconds(b"x" * 4000) <= offload.INLINE_SECONDS  # one image as JSON
    assert offload.parse_seconds(b"x" * 700_000) <= offload.PARSE_INLINE_SECONDS  # 256 images as JSON
    assert offload.parse_seconds(b"x" * (8 << 20)) > offload.PARSE_INLINE_SECONDS  # the largest body


async def takes_request(request: Request) -> Response:
    return Response()


async def takes_path(request: Request, name: str, version: str) -> Response:
    return Response()


async def takes_query(request: Request, limit: int = 3) -> Response:
    return Response()


def takes_request_sync(request: Request) -> Response:
    return Response()


def test_direct_parameters_only_for_endpoints_that_need_no_resolution() -> None:
    assert direct_parameters(takes_request, set()) == ("request", [])
    assert direct_parameters(takes_path, {"name", "version"}) == ("request", ["name", "version"])
    assert direct_parameters(takes_path, {"name"}) is None  # `version` would be a query parameter
    assert direct_parameters(takes_query, set()) is None
    assert direct_parameters(takes_request_sync, set()) is None


@pytest.mark.parametrize(("router", "path"), [(predict.router, "/v1/predict"),
                                              (predict.router, "/v1/predict/batch"),
                                              (v2.infer_router, "/v2/models/{name}/infer")])
def test_prediction_routes_are_called_directly(router: object, path: str) -> None:
    route = next(r for r in router.routes if getattr(r, "path", None) == path)  # type: ignore[attr-defined]
    assert isinstance(route, DirectRoute)
    assert direct_parameters(route.endpoint, set(route.param_convertors)) is not None


def test_direct_routes_answer_and_fail_as_before(client: TestClient, example_digit: dict[str, Any]) -> None:
    ok = client.post("/v1/predict", json={"pixels": example_digit["pixels"]})
    assert ok.status_code == 200 and ok.json()["digit"] == example_digit["label"]
    bad = client.post("/v1/predict", json={"pixels": [[300] * 28] * 28})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == ["body", "pixels", 0, 0]
    missing = client.post("/v2/models/nope/infer", json={"inputs": []})
    assert missing.status_code == 404 and "unknown model 'nope'" in missing.json()["error"]
    batch = np.zeros((300, 784), np.uint8).tolist()  # long enough to go to the thread pool
    answer = client.post("/v1/predict/batch", json={"images": batch})
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 300


PARITY_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/predict", {"json": {"pixels": [[0] * 28] * 28}}),
    ("/v1/predict?version=99", {"json": {"pixels": [[0] * 28] * 28}}),
    ("/v1/predict", {"json": {"pixels": [[300] * 28] * 28}}),
    ("/v1/predict", {"content": b"{", "headers": {"content-type": "application/json"}}),
    ("/v1/predict/batch", {"json": {"images": [[0] * 784] * 3}}),
    ("/v1/predict/batch", {"json": {"images": []}}),
    ("/v2/models/mnist-mlp/infer", {"json": {"inputs": [{"name": "images", "shape": [1, 784],
                                                         "datatype": "UINT8", "data": [0] * 784}]}}),
    ("/v2/models/mnist-mlp/infer", {"json": {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32",
                                                         "data": [1]}]}}),
    ("/v2/models/nope/infer", {"json": {"inputs": []}}),
    ("/v2/models/mnist-mlp/versions/99/infer", {"json": {"inputs": []}}),
    (f"/v2/models/mnist-mlp/versions/{newest_shipped('mnist-mlp')}/infer",
     {"json": {"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP32", "data": [0] * 784}]}}),
]


def answers(weights_dir: Path) -> tuple[list[tuple[int, dict[str, str], bytes]], str]:
    """Each PARITY_REQUESTS' status, headers (less the request id) and body; and the metrics text."""
    with TestClient(create_app(Settings(weights_dir=weights_dir, model="mnist-mlp"))) as client:
        got = []
        for i, (path, kwargs) in enumerate(PARITY_REQUESTS):
            given = kwargs.get("headers", {})
            response = client.post(path, **{**kwargs, "headers": {**given, "x-request-id": f"parity-{i}"}})
            headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
            got.append((response.status_code, headers, response.content))
        metrics = client.get("/metrics").text
    return got, metrics


def test_the_middleware_answers_the_traffic_routes_as_the_app_routing_would(
        weights_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    direct = DirectDispatch.__call__

    async def counted(self: DirectDispatch, scope: Any, receive: Any, send: Any) -> bool:
        answered = await direct(self, scope, receive, send)
        if answered:
            calls.append(scope["path"])
        return answered

    monkeypatch.setattr(DirectDispatch, "__call__", counted)
    directly, direct_metrics = answers(weights_dir)
    assert len(calls) == len(PARITY_REQUESTS)  # every one of them answered by the middleware

    async def declined(self: DirectDispatch, scope: Any, receive: Any, send: Any) -> bool:
        return False

    monkeypatch.setattr(DirectDispatch, "__call__", declined)
    routed, routed_metrics = answers(weights_dir)
    assert [status for status, _, _ in directly] == [200, 404, 422, 400, 200, 422, 200, 400, 404, 404, 200]
    assert directly == routed
    counted = requests_counted(direct_metrics)
    assert counted == requests_counted(routed_metrics)
    assert counted[("/v2/models/{name}/infer", "200")] == 1 and counted[("/v1/predict", "422")] == 1


def requests_counted(metrics: str) -> dict[tuple[str, str], float]:
    return {(s.labels["route"], s.labels["status"]): s.value
            for family in text_string_to_metric_families(metrics) for s in family.samples
            if s.name == "mnist_requests_total"}
