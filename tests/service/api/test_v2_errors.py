"""The /v2 (Open Inference Protocol) routes' errors over raw HTTP: each bad request's status and the
protocol's {"error": "..."} body, saying what is wrong and where."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.main import create_app
from tests.service.api.test_v2_api import (
    BODY_LIMIT,
    INFER,
    MODEL,
    VERSION,
    ZERO_IMAGE,
    assert_v2_error,
    binary_request,
    request,
    tensor,
)

# ---- errors: status and the protocol's {"error": "..."} body

def with_value(value: Any, index: int = 100) -> list[Any]:
    data: list[Any] = [0] * 784
    data[index] = value
    return data


BAD_BODIES: dict[str, tuple[bytes, list[str]]] = {
    "malformed JSON": (b'{"inputs": [', ["malformed JSON"]),
    "not an object": (b"[1, 2]", ["JSON object", "list"]),
    "empty body": (b"", ["malformed JSON"]),
    "nested too deep": (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", ["malformed JSON"]),
    "no inputs": (b'{"id": "x"}', ["inputs", "required"]),
    "empty inputs": (request(), ["inputs", "at least 1"]),
    "id not a string": (request(tensor(ZERO_IMAGE, [1, 784]), id=5), ["id"]),
    "shape of strings": (request(tensor(ZERO_IMAGE, ["1", "784"])), ["inputs[0].shape[0]", "integer"]),
    "missing datatype": (orjson.dumps({"inputs": [{"name": "images", "shape": [1, 784], "data": [0]}]}),
                         ["inputs[0].datatype", "required"]),
    "wrong input name": (request(tensor(ZERO_IMAGE, [1, 784], name="input__0")), ["'images'", "input__0"]),
    "two inputs": (request(tensor(ZERO_IMAGE, [1, 784]), tensor(ZERO_IMAGE, [1, 784], name="x")),
                   ["one input"]),
    "datatype BOOL": (request(tensor([True] * 784, [1, 784], "BOOL")), ["BOOL", "FP32", "UINT8"]),
    "datatype BYTES": (request(tensor(["a"] * 784, [1, 784], "BYTES")), ["BYTES"]),
    "unknown datatype": (request(tensor(ZERO_IMAGE, [1, 784], "FLOAT32")), ["FLOAT32", "unknown datatype"]),
    "shape [1, 28]": (request(tensor(ZERO_IMAGE, [1, 28])), ["[1, 28]", "[N, 28, 28]", "[N, 784]"]),
    "shape [1, 28, 27]": (request(tensor(ZERO_IMAGE, [1, 28, 27])), ["[1, 28, 27]"]),
    "shape [784]": (request(tensor(ZERO_IMAGE, [784])), ["[784]"]),
    "shape [1, 2, 28, 28]": (request(tensor(ZERO_IMAGE, [1, 2, 28, 28])), ["[1, 2, 28, 28]"]),
    "batch of 0": (request(tensor([], [0, 784])), ["batch size 0", "1 to"]),
    "negative batch": (request(tensor(ZERO_IMAGE, [-1, 784])), ["batch size -1"]),
    "data shorter than shape": (request(tensor(ZERO_IMAGE, [2, 784])), ["784 values", "[2, 784]", "1568"]),
    "data longer than shape": (request(tensor([*ZERO_IMAGE, 0], [1, 784])), ["785 values"]),
    "data nested unlike shape": (request(tensor([[0] * 392] * 2, [1, 784])), ["nested as [2, 392]"]),
    "ragged data": (request(tensor([[0] * 28] * 27 + [[0] * 27], [1, 28, 28])), ["ragged"]),
    "no data": (request(tensor(None, [1, 784])), ["no data", "binary_data_size"]),
    "string values": (request(tensor(["0"] * 784, [1, 784])), ["only numbers"]),
    "null value": (request(tensor(with_value(None), [1, 784])), ["only numbers"]),
    "boolean value": (request(tensor(with_value(True), [1, 784])), ["only numbers"]),
    "boolean, huge integer, NaN": (b'{"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP64", '
                                   b'"data": [NaN, 1' + b"0" * 30 + b", true" + b", 0" * 781 + b"]}]}",
                                   ["only numbers"]),
    "NaN with a binary output": (b'{"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP32", '
                                 b'"data": [0' + b", 0" * 782 + b', NaN]}], '
                                 b'"parameters": {"binary_data_output": true}}', ["[0, 783]", "finite"]),
    "value 256": (request(tensor(with_value(256, 30), [1, 28, 28], "INT32")),
                  ["[0, 1, 2]", "256", "0-255"]),
    "value -1": (request(tensor(with_value(-1), [1, 784], "FP32")), ["[0, 100]", "-1", "0-255"]),
    "value NaN": (b'{"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP32", "data": [NaN'
                  + b", 0" * 783 + b"]}]}", ["[0, 0]", "nan", "finite"]),
    "value Infinity": (b'{"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP64", "data": [0'
                       + b", 0" * 782 + b", Infinity]}]}", ["[0, 783]", "inf", "finite"]),
    "fraction for UINT8": (request(tensor(with_value(0.5), [1, 784])), ["0.5", "UINT8"]),
    "unknown output": (request(tensor(ZERO_IMAGE, [1, 784]), outputs=[{"name": "logits"}]),
                       ["'logits'", "'probabilities'", "'digit'"]),
    "output twice": (request(tensor(ZERO_IMAGE, [1, 784]), outputs=[{"name": "digit"}] * 2), ["twice"]),
    "classification": (request(tensor(ZERO_IMAGE, [1, 784]),
                               outputs=[{"name": "digit", "parameters": {"classification": 3}}]),
                       ["classification"]),
    "binary_data not a bool": (request(tensor(ZERO_IMAGE, [1, 784]),
                                       outputs=[{"name": "digit", "parameters": {"binary_data": "yes"}}]),
                               ["binary_data", "true or false"]),
    "binary_data_size without bytes": (request(tensor(None, [1, 784], binary_data_size=784)),
                                       ["784 bytes", "Inference-Header-Content-Length"]),
    "binary_data_size negative": (request(tensor(None, [1, 784], binary_data_size=-4)),
                                  ["binary_data_size", "-4"]),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_inference_body_is_400(client: TestClient, case: str) -> None:
    body, words = BAD_BODIES[case]
    assert_v2_error(client.post(INFER, content=body, headers={"Content-Type": "application/json"}), 400,
                    *words)


def test_binary_data_size_not_matching_the_shape(client: TestClient, seven: np.ndarray) -> None:
    body, headers = binary_request(seven[None].astype(np.float32), "UINT8")
    assert_v2_error(client.post(INFER, content=body, headers=headers), 400,
                    "3136 bytes", "[1, 28, 28]", "UINT8", "784")


def test_binary_data_size_not_matching_the_body(client: TestClient, seven: np.ndarray) -> None:
    body, headers = binary_request(seven[None], "UINT8")
    assert_v2_error(client.post(INFER, content=body + b"\0", headers=headers), 400, "784 bytes", "785 bytes")
    assert_v2_error(client.post(INFER, content=body[:-1], headers=headers), 400, "784 bytes", "783 bytes")


def test_binary_data_and_json_data_together(client: TestClient, seven: np.ndarray) -> None:
    header = request(tensor(seven.ravel().tolist(), [1, 784], binary_data_size=784))
    response = client.post(INFER, content=header + seven.tobytes(),
                           headers={"Inference-Header-Content-Length": str(len(header))})
    assert_v2_error(response, 400, "not both")


@pytest.mark.parametrize("value", ["-5", "abc", "1e3", "100000"])
def test_bad_inference_header_content_length(client: TestClient, seven: np.ndarray, value: str) -> None:
    body, headers = binary_request(seven[None], "UINT8")
    response = client.post(INFER, content=body, headers={**headers, "Inference-Header-Content-Length": value})
    assert_v2_error(response, 400, "Inference-Header-Content-Length", repr(value))


def test_header_length_cutting_the_json_is_malformed_json(client: TestClient, seven: np.ndarray) -> None:
    body, headers = binary_request(seven[None], "UINT8")
    cut = str(int(headers["Inference-Header-Content-Length"]) - 3)
    response = client.post(INFER, content=body, headers={**headers, "Inference-Header-Content-Length": cut})
    assert_v2_error(response, 400, "malformed JSON")


@pytest.mark.parametrize(("datatype", "value", "words"), [
    ("FP32", np.nan, ["[0, 3, 4]", "nan", "finite"]), ("FP16", np.inf, ["inf", "finite"]),
    ("INT16", -1, ["[0, 3, 4]", "-1", "0-255"]), ("UINT16", 256, ["256", "0-255"]),
    ("FP64", 255.5, ["255.5", "0-255"])])
def test_binary_values_out_of_range_or_not_finite(client: TestClient, datatype: str, value: float,
                                                 words: list[str]) -> None:
    image = np.zeros((1, 28, 28), {"FP32": "<f4", "FP16": "<f2", "INT16": "<i2", "UINT16": "<u2",
                                   "FP64": "<f8"}[datatype])
    image[0, 3, 4] = value
    body, headers = binary_request(image, datatype)
    assert_v2_error(client.post(INFER, content=body, headers=headers), 400, *words)


def test_unsupported_content_encoding_is_415(client: TestClient) -> None:
    response = client.post(INFER, content=request(tensor(ZERO_IMAGE, [1, 784])),
                           headers={"Content-Encoding": "br"})
    assert_v2_error(response, 415, "'br'", "gzip")


def test_corrupt_gzip_is_400(client: TestClient) -> None:
    response = client.post(INFER, content=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert_v2_error(response, 400, "gzip")


def test_batch_over_the_limit(client: TestClient, app: Any) -> None:
    limit = app.state.settings.max_batch_size
    body, headers = binary_request(np.zeros((limit + 1, 784), np.uint8), "UINT8")
    assert_v2_error(client.post(INFER, content=body, headers=headers), 400, f"batch size {limit + 1}",
                    f"1 to {limit}")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v2/models/mnist/ready"), ("GET", "/v2/models/mnist"), ("POST", "/v2/models/mnist/infer"),
    ("GET", "/v2/models/mnist-dnn"), ("POST", "/v2/models/mnist/versions/1/infer")])
def test_unknown_model_is_404(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, content=request(tensor(ZERO_IMAGE, [1, 784])))
    assert_v2_error(response, 404, "unknown model", f"'{MODEL}'")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/v2/models/{MODEL}/versions/{int(VERSION) + 1}"),
    ("GET", f"/v2/models/{MODEL}/versions/latest/ready"),
    ("POST", f"/v2/models/{MODEL}/versions/01/infer")])
def test_unknown_version_is_404(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, content=request(tensor(ZERO_IMAGE, [1, 784])))
    assert_v2_error(response, 404, "unknown version", f"loaded versions: {VERSION}")


def test_routing_errors_under_v2_use_the_protocol_shape(client: TestClient) -> None:
    assert_v2_error(client.get("/v2/nothing/here"), 404, "/v2/nothing/here")
    assert_v2_error(client.get(INFER), 405, "GET", INFER)
    assert_v2_error(client.delete("/v2"), 405)
    v1 = client.get("/v1/nothing")  # the /v1 shape is unchanged
    assert v1.status_code == 404 and set(v1.json()["error"]) == {"code", "message", "details", "request_id"}


@pytest.fixture(scope="module")
def small_body_client(weights_dir: Path) -> Iterator[TestClient]:
    settings = Settings(weights_dir=weights_dir, model=MODEL, max_body_bytes=BODY_LIMIT)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_body_over_the_limit_is_413_in_the_protocol_shape(small_body_client: TestClient) -> None:
    body, headers = binary_request(np.zeros((2, 28, 28), np.float32), "FP32")
    assert len(body) > BODY_LIMIT
    assert_v2_error(small_body_client.post(INFER, content=body, headers=headers), 413, str(BODY_LIMIT))


def test_gzip_bomb_is_413(small_body_client: TestClient) -> None:
    body, headers = binary_request(np.zeros((8, 28, 28), np.uint8), "UINT8")
    compressed = gzip.compress(body)
    assert len(compressed) < BODY_LIMIT < len(body)
    headers["Content-Encoding"] = "gzip"
    response = small_body_client.post(INFER, content=compressed, headers=headers)
    assert_v2_error(response, 413, "decompressed", str(BODY_LIMIT))


@pytest.fixture(scope="module")
def unloaded_client(weights_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(weights_dir=weights_dir, model=MODEL), load=False)) as test_client:
        yield test_client


@pytest.mark.parametrize(("method", "path"), [("GET", f"/v2/models/{MODEL}"), ("POST", INFER)])
def test_no_model_loaded_is_503(unloaded_client: TestClient, method: str, path: str) -> None:
    assert_v2_error(unloaded_client.request(method, path, content=b"{}"), 503, "no model")
    live = unloaded_client.get("/v2/health/live")
    assert (live.status_code, live.json()) == (200, {"live": True})


def test_readiness_says_false_before_a_model_is_loaded(unloaded_client: TestClient) -> None:
    response = unloaded_client.get("/v2/health/ready")
    assert (response.status_code, response.json()) == (503, {"ready": False})
