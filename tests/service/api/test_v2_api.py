"""The /v2 (Open Inference Protocol) routes over raw HTTP: answers, every error case, metrics, docs."""

from __future__ import annotations

import copy
import gzip
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def seven(example_digit: dict[str, Any]) -> np.ndarray:
    """The example digit (a 7) as a (28, 28) uint8 array."""
    return np.array(example_digit["pixels"], np.uint8)


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


# ---- errors: status and the protocol's {"error": "..."} body

ZERO_IMAGE = [0] * 784


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
