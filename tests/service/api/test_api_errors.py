"""Bad requests: the right status, the common error body, and where the problem is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api.handlers import install_error_handlers
from service.api.logs import AccessLog, configure
from service.api.middleware import RequestContextMiddleware
from service.config import Settings
from service.dataplane.plane import DataPlane
from service.main import create_app
from service.metrics import Metrics
from service.models.loaded_model import LoadedModel

JSON = {"content-type": "application/json"}
ZEROS = [[0] * 28 for _ in range(28)]
BODY_LIMIT = 4096


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The common error body, with the request id of the X-Request-ID header; returns `error`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert isinstance(error["details"], list)
    for detail in error["details"]:
        assert set(detail) == {"loc", "msg", "type"}
        assert detail["msg"]
    return error


def zeros_with(r: int, c: int, value: Any) -> list[list[Any]]:
    image = [row[:] for row in ZEROS]
    image[r][c] = value
    return image


def raw_image(r: int, c: int, literal: str) -> str:
    """JSON text of a 28x28 zero image with `literal` (e.g. NaN) at row r, column c."""
    rows = [["0"] * 28 for _ in range(28)]
    rows[r][c] = literal
    return "[" + ",".join("[" + ",".join(row) + "]" for row in rows) + "]"


# ---- invalid pixels on /v1/predict: (body, expected loc, words the message must contain)

def ragged(r: int, n: int) -> list[list[int]]:
    image = [row[:] for row in ZEROS]
    image[r] = [0] * n
    return image


PREDICT_CASES: dict[str, tuple[Any, list[Any], list[str]]] = {
    "ragged row": ({"pixels": ragged(5, 27)}, ["body", "pixels", 5], ["row 5", "27 values", "28"]),
    "long row": ({"pixels": ragged(27, 29)}, ["body", "pixels", 27], ["row 27", "29 values"]),
    "783 values": ({"pixels": [0] * 783}, ["body", "pixels"], ["783", "784", "28 rows"]),
    "785 values": ({"pixels": [0] * 785}, ["body", "pixels"], ["785"]),
    "27 rows": ({"pixels": ZEROS[:27]}, ["body", "pixels"], ["27", "28 rows"]),
    "29 rows": ({"pixels": [*ZEROS, [0] * 28]}, ["body", "pixels"], ["29"]),
    "row not a list": ({"pixels": [*ZEROS[:3], 7, *ZEROS[4:]]}, ["body", "pixels", 3], ["row 3"]),
    "string pixel": ({"pixels": zeros_with(3, 4, "12")}, ["body", "pixels", 3, 4],
                     ["row 3, column 4", "not a number", '"12"']),
    "string in flat": ({"pixels": [0] * 100 + ["x"] + [0] * 683}, ["body", "pixels", 100],
                       ["value 100", "not a number"]),
    "true": ({"pixels": zeros_with(0, 1, True)}, ["body", "pixels", 0, 1], ["not a number", "true"]),
    "false": ({"pixels": zeros_with(27, 27, False)}, ["body", "pixels", 27, 27], ["false"]),
    "null": ({"pixels": zeros_with(9, 2, None)}, ["body", "pixels", 9, 2], ["null"]),
    "null in flat": ({"pixels": [None] + [0] * 783}, ["body", "pixels", 0], ["null"]),
    "256": ({"pixels": zeros_with(2, 3, 256)}, ["body", "pixels", 2, 3], ["256", "0-255"]),
    "-1": ({"pixels": zeros_with(20, 0, -1)}, ["body", "pixels", 20, 0], ["-1", "0-255"]),
    "255.5": ({"pixels": [0] * 10 + [255.5] + [0] * 773}, ["body", "pixels", 10], ["255.5", "0-255"]),
    "pixels not a list": ({"pixels": "0,0,0"}, ["body", "pixels"], ["expected a list"]),
    "pixels a number": ({"pixels": 5}, ["body", "pixels"], ["expected a list"]),
    "missing field": ({"image": ZEROS}, ["body", "pixels"], ["pixels", "required"]),
    "unknown extra field": ({"pixels": ZEROS, "threshold": 0.5}, ["body", "threshold"],
                            ["threshold", "unknown"]),
    "body is a list": ([ZEROS], ["body"], ["object"]),
    "body is a number": (3, ["body"], ["object"]),
}


@pytest.mark.parametrize("case", sorted(PREDICT_CASES))
def test_invalid_predict_body_is_422_pointing_at_the_place(client: TestClient, case: str) -> None:
    body, loc, words = PREDICT_CASES[case]
    error = assert_error(client.post("/v1/predict", json=body), 422, "invalid_input")
    assert error["details"][0]["loc"] == loc
    for word in words:
        assert word in error["message"], (word, error["message"])


@pytest.mark.parametrize(("literal", "shown"), [("NaN", "nan"), ("Infinity", "inf"),
                                                 ("-Infinity", "-inf"), ("1e999", "inf")])
def test_non_finite_numbers_are_422_not_400(client: TestClient, literal: str, shown: str) -> None:
    # NaN/Infinity are what Python's json.dumps emits for float('nan') / float('inf')
    body = '{"pixels": ' + raw_image(4, 17, literal) + "}"
    error = assert_error(client.post("/v1/predict", content=body, headers=JSON), 422, "invalid_input")
    assert error["details"][0]["loc"] == ["body", "pixels", 4, 17]
    assert "finite" in error["message"] and shown in error["message"]


def test_python_json_dumps_of_nan_pixels_gets_a_422(client: TestClient) -> None:
    body = json.dumps({"images": [ZEROS, zeros_with(1, 2, float("nan"))]})
    assert "NaN" in body
    error = assert_error(client.post("/v1/predict/batch", content=body, headers=JSON), 422,
                         "invalid_input")
    assert error["details"][0]["loc"] == ["body", "images", 1, 1, 2]
    assert error["message"].startswith("images[1]:")


def test_huge_integer_pixel_is_422(client: TestClient) -> None:
    body = '{"pixels": ' + raw_image(0, 0, "1" + "0" * 400) + "}"
    error = assert_error(client.post("/v1/predict", content=body, headers=JSON), 422, "invalid_input")
    assert error["details"][0]["loc"] == ["body", "pixels", 0, 0]


# ---- batches

def test_ragged_row_in_a_batch_names_the_image_and_the_row(client: TestClient) -> None:
    images = [ZEROS, [0] * 784, ragged(13, 27)]
    error = assert_error(client.post("/v1/predict/batch", json={"images": images}), 422, "invalid_input")
    assert error["details"][0]["loc"] == ["body", "images", 2, 13]
    assert error["details"][0]["type"] == "row_length"
    assert error["message"].startswith("images[2]:")
    assert "row 13 has 27 values, expected 28" in error["message"]


def test_every_bad_image_of_a_batch_is_listed(client: TestClient) -> None:
    images = [zeros_with(0, 0, 300), ZEROS, [0] * 783, zeros_with(5, 6, "a"), zeros_with(1, 1, None)]
    error = assert_error(client.post("/v1/predict/batch", json={"images": images}), 422, "invalid_input")
    assert [d["loc"] for d in error["details"]] == [
        ["body", "images", 0, 0, 0], ["body", "images", 2], ["body", "images", 3, 5, 6],
        ["body", "images", 4, 1, 1]]


def test_details_are_capped(client: TestClient) -> None:
    images = [zeros_with(0, 0, -5)] * 30
    error = assert_error(client.post("/v1/predict/batch", json={"images": images}), 422, "invalid_input")
    assert 1 <= len(error["details"]) <= 20


@pytest.mark.parametrize(("images", "words"), [([], ["empty"]), ("abc", ["list"]), ({"0": ZEROS}, ["list"]),
                                               (None, ["list"])])
def test_images_must_be_a_non_empty_list(client: TestClient, images: Any, words: list[str]) -> None:
    error = assert_error(client.post("/v1/predict/batch", json={"images": images}), 422, "invalid_input")
    assert error["details"][0]["loc"] == ["body", "images"]
    for word in words:
        assert word in error["message"]


def test_batch_over_the_limit_is_422(weights_dir: Path) -> None:
    settings = Settings(weights_dir=weights_dir, model="mnist-mlp", max_batch_size=2)
    with TestClient(create_app(settings)) as small:
        response = small.post("/v1/predict/batch", json={"images": [ZEROS] * 3})
    error = assert_error(response, 422, "invalid_input")
    assert "limit of 2" in error["message"]


@pytest.mark.parametrize("body", [{"pixels": ZEROS}, {"pixels": ZEROS, "images": [ZEROS]}, {}])
def test_batch_field_errors(client: TestClient, body: dict[str, Any]) -> None:
    error = assert_error(client.post("/v1/predict/batch", json=body), 422, "invalid_input")
    assert error["details"][0]["loc"][0] == "body"


# ---- body format: 400, 415, 413

@pytest.mark.parametrize("text", ["{", '{"pixels": [1, 2,]}', "pixels=1", "", "{'pixels': []}"])
def test_malformed_json_is_400(client: TestClient, text: str) -> None:
    error = assert_error(client.post("/v1/predict", content=text, headers=JSON), 400, "bad_request")
    assert "malformed JSON" in error["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = json.dumps({"pixels": ZEROS}).encode()
    error = assert_error(client.post("/v1/predict", content=body, headers=headers), 415,
                         "unsupported_media_type")
    assert "application/json" in error["message"]


def test_json_content_type_with_charset_is_accepted(client: TestClient) -> None:
    response = client.post("/v1/predict", content=json.dumps({"pixels": ZEROS}),
                           headers={"content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200


@pytest.fixture(scope="module")
def small_body_client(weights_dir: Path) -> Iterator[TestClient]:
    settings = Settings(weights_dir=weights_dir, model="mnist-mlp", max_body_bytes=BODY_LIMIT)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def padded(size: int) -> bytes:
    """A valid predict body of exactly `size` bytes (JSON whitespace pads it)."""
    core = json.dumps({"pixels": ZEROS}, separators=(",", ":")).encode()
    assert len(core) <= size
    return core[:-1] + b" " * (size - len(core)) + b"}"


def test_body_at_the_limit_is_served(small_body_client: TestClient) -> None:
    response = small_body_client.post("/v1/predict", content=padded(BODY_LIMIT), headers=JSON)
    assert response.status_code == 200, response.text


def test_body_over_the_limit_with_content_length_is_413(small_body_client: TestClient) -> None:
    response = small_body_client.post("/v1/predict", content=padded(BODY_LIMIT + 1), headers=JSON)
    error = assert_error(response, 413, "payload_too_large")
    assert str(BODY_LIMIT) in error["message"]


def chunks(body: bytes, size: int = 1000) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i:i + size]


def test_chunked_body_over_the_limit_is_413(small_body_client: TestClient) -> None:
    response = small_body_client.post("/v1/predict", content=chunks(padded(3 * BODY_LIMIT)), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    error = assert_error(response, 413, "payload_too_large")
    assert str(BODY_LIMIT) in error["message"]


def test_chunked_body_under_the_limit_is_served(small_body_client: TestClient) -> None:
    response = small_body_client.post("/v1/predict", content=chunks(padded(BODY_LIMIT)), headers=JSON)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 200, response.text


# ---- routing errors

def test_unknown_route_is_404_in_the_common_shape(client: TestClient) -> None:
    error = assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert "/v1/nothing-here" in error["message"]


@pytest.mark.parametrize(("method", "path", "allowed"), [("GET", "/v1/predict", "POST"),
                                                          ("PUT", "/v1/predict/batch", "POST"),
                                                          ("POST", "/v1/model", "GET")])
def test_wrong_method_is_405_in_the_common_shape(client: TestClient, method: str, path: str,
                                                 allowed: str) -> None:
    error = assert_error(client.request(method, path), 405, "method_not_allowed")
    assert method in error["message"] and path in error["message"]


def test_405_says_which_method_is_allowed(client: TestClient) -> None:
    assert client.get("/v1/predict").headers["allow"] == "POST"


def test_fastapi_validation_errors_use_the_common_shape() -> None:
    # No route of the service declares FastAPI-validated parameters today; the handler is still
    # installed, so check it on a route that does.
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/square")
    def square(n: int) -> int:
        return n * n

    metrics = Metrics()
    app.add_middleware(RequestContextMiddleware, metrics=metrics, access_log=AccessLog(configure("info")),
                       max_body_bytes=1024, plane=DataPlane(Settings(), metrics))
    test_client = TestClient(app)
    error = assert_error(test_client.get("/square", params={"n": "two"}), 422, "invalid_input")
    assert error["details"][0]["loc"] == ["query", "n"]
    assert error["message"].startswith("query.n:")
    assert test_client.get("/square", params={"n": 3}).json() == 9


# ---- request id and unexpected errors

def test_every_response_has_a_request_id(client: TestClient) -> None:
    responses = [client.post("/v1/predict", json={"pixels": ZEROS}), client.get("/health/live"),
                 client.get("/metrics"), client.get("/nope"), client.post("/v1/predict", json={})]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(ids)
    assert len(set(ids)) == len(ids)


def test_a_sent_request_id_is_echoed(client: TestClient) -> None:
    ok = client.post("/v1/predict", json={"pixels": ZEROS}, headers={"X-Request-ID": "trace-42.a:b_c"})
    assert ok.headers["x-request-id"] == "trace-42.a:b_c"
    bad = client.post("/v1/predict", json={"pixels": []}, headers={"X-Request-ID": "client-7"})
    assert assert_error(bad, 422, "invalid_input")["request_id"] == "client-7"


@pytest.mark.parametrize("sent", ["has space", "x" * 129, "<script>"])
def test_an_unsafe_request_id_is_replaced(client: TestClient, sent: str) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] not in ("", sent)


def test_unexpected_exception_is_500_without_a_stack_trace(app: FastAPI, monkeypatch: pytest.MonkeyPatch,
                                                           example_digit: dict[str, Any]) -> None:
    def explode(self: LoadedModel, pixels: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(LoadedModel, "predict", explode)
    test_client = TestClient(app, raise_server_exceptions=False)  # what a real client would see
    response = test_client.post("/v1/predict", json={"pixels": example_digit["pixels"]},
                                headers={"X-Request-ID": "req-500"})
    error = assert_error(response, 500, "internal_error")
    assert error["request_id"] == "req-500"
    assert "request id" in error["message"]
    for leak in ("Traceback", "RuntimeError", "secret internal detail", ".py"):
        assert leak not in response.text
    monkeypatch.undo()
    assert test_client.post("/v1/predict", json={"pixels": example_digit["pixels"]}).status_code == 200
