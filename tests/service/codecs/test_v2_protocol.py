"""service.codecs.v2.protocol: decoding inference bodies (JSON and binary tensors) and encoding responses."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import numpy as np
import orjson
import pytest
from tritonclient.http import InferResult

from service.codecs.v2 import protocol
from service.codecs.v2.body import decompress, split_body
from service.codecs.v2.outputs import encode_response, model_outputs
from service.codecs.v2.protocol import DATATYPES, parse_infer_request
from service.errors import ServiceError

RNG = np.random.default_rng(5)
PIXELS = RNG.integers(0, 256, (3, 28, 28)).astype(np.uint8)  # three images, raw 0-255
EXPECTED = PIXELS.reshape(3, 784).astype(np.float32)
SHAPES = {"[N,28,28]": (3, 28, 28), "[N,784]": (3, 784), "[N,1,28,28]": (3, 1, 28, 28)}
LIMIT = 1 << 20


def pixels_for(datatype: str) -> np.ndarray:
    """PIXELS, halved for INT8, whose range (up to 127) cannot hold the brighter pixels."""
    return PIXELS // 2 if datatype == "INT8" else PIXELS


def json_body(data: Any, shape: list[int], datatype: str, **extra: Any) -> bytes:
    return orjson.dumps({"inputs": [{"name": "images", "shape": shape, "datatype": datatype,
                                     "data": data}], **extra})


def binary_body(arr: np.ndarray, datatype: str, **extra: Any) -> tuple[bytes, str]:
    blob = arr.astype(DATATYPES[datatype]).tobytes()
    header = orjson.dumps({"inputs": [{"name": "images", "shape": list(arr.shape), "datatype": datatype,
                                       "parameters": {"binary_data_size": len(blob)}}], **extra})
    return header + blob, str(len(header))


def parse(body: bytes, header_length: str | None = None, encoding: str | None = None,
          max_batch: int = 1024, decision: bool = False) -> Any:
    return parse_infer_request(body, header_length, encoding, max_batch, LIMIT,
                               model_outputs(decision))


def raised(function: Any, *args: Any) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        function(*args)
    return info.value


def error_of(body: bytes, header_length: str | None = None, encoding: str | None = None,
             max_batch: int = 1024) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        parse(body, header_length, encoding, max_batch)
    return info.value


@pytest.mark.parametrize("datatype", sorted(DATATYPES))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_binary_tensor_of_every_numeric_type_and_shape_gives_the_pixels(datatype: str, shape: str) -> None:
    pixels = pixels_for(datatype)
    body, length = binary_body(pixels.reshape(SHAPES[shape]), datatype)
    request = parse(body, length)
    assert request.images.dtype == np.float32
    np.testing.assert_array_equal(request.images, pixels.reshape(3, 784))


@pytest.mark.parametrize("datatype", sorted(DATATYPES))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_json_data_nested_or_flat_gives_the_pixels(datatype: str, shape: str) -> None:
    pixels = pixels_for(datatype)
    arr = pixels.reshape(SHAPES[shape])
    nested = parse(json_body(arr.tolist(), list(arr.shape), datatype)).images
    flat = parse(json_body(arr.ravel().tolist(), list(arr.shape), datatype)).images
    np.testing.assert_array_equal(nested, pixels.reshape(3, 784))
    np.testing.assert_array_equal(flat, pixels.reshape(3, 784))


def test_fractional_float_pixels_are_kept() -> None:
    arr = np.full((1, 784), 127.25, np.float32)
    body, length = binary_body(arr, "FP32")
    np.testing.assert_array_equal(parse(body, length).images, arr)
    np.testing.assert_array_equal(parse(json_body(arr.tolist(), [1, 784], "FP64")).images, arr)


@pytest.mark.parametrize(("datatype", "value"), [("INT8", 200), ("UINT8", 7.5), ("INT32", 0.25)])
def test_json_values_the_datatype_cannot_hold_are_400(datatype: str, value: float) -> None:
    data = [0] * 784
    data[30] = value
    error = error_of(json_body(data, [1, 28, 28], datatype))
    assert error.status == 400
    assert "[0, 1, 2]" in error.message and f"{value:g}" in error.message and datatype in error.message


def test_binary_tensor_at_an_odd_offset_is_read() -> None:
    arr = PIXELS.astype(np.float32)
    blob = arr.tobytes()
    header = orjson.dumps({"inputs": [{"name": "images", "shape": [3, 28, 28], "datatype": "FP32",
                                       "parameters": {"binary_data_size": len(blob)}}]}) + b" "
    assert len(header) % 4 != 0  # the float32 data starts unaligned
    np.testing.assert_array_equal(parse(header + blob, str(len(header))).images, EXPECTED)


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_compressed_bodies_are_inflated_before_the_header_split(encoding: str, compress: Any) -> None:
    body, length = binary_body(PIXELS, "UINT8")
    np.testing.assert_array_equal(parse(compress(body), length, encoding).images, EXPECTED)


def test_decompress_refuses_unknown_encodings_bombs_and_garbage() -> None:
    assert decompress(b"abc", None, 10) == b"abc"
    assert decompress(b"abc", "identity", 10) == b"abc"
    assert decompress(gzip.compress(b"x" * 100), "gzip", 100) == b"x" * 100
    unknown = raised(decompress, b"abc", "br", 10)
    assert unknown.status == 415 and "br" in unknown.message
    bomb = raised(decompress, gzip.compress(b"\0" * 10_000_000), "gzip", 1000)
    assert bomb.status == 413 and "1000" in bomb.message
    garbage = raised(decompress, b"not gzip", "gzip", 1000)
    assert garbage.status == 400 and "gzip" in garbage.message
    truncated = raised(decompress, gzip.compress(b"x" * 1000)[:-12], "gzip", 5000)
    assert truncated.status == 400 and "truncated" in truncated.message


@pytest.mark.parametrize("value", ["-1", "abc", "12.5", "", "99999"])
def test_bad_inference_header_content_length_is_400(value: str) -> None:
    error = raised(split_body, b"{}" * 10, value)
    assert error.status == 400
    assert "Inference-Header-Content-Length" in error.message and "20" in error.message


def test_split_body_divides_at_the_header_length() -> None:
    assert split_body(b"{}abc", "2") == (b"{}", b"abc")
    assert split_body(b"{}abc", None) == (b"{}abc", b"")


def test_outputs_default_to_all_in_json_and_follow_binary_flags() -> None:
    body = json_body(PIXELS.tolist(), [3, 28, 28], "UINT8")
    assert parse(body).outputs == (("probabilities", False), ("digit", False))
    everything_binary = json_body(PIXELS.tolist(), [3, 28, 28], "UINT8",
                                  parameters={"binary_data_output": True})
    assert parse(everything_binary).outputs == (("probabilities", True), ("digit", True))
    one_overridden = json_body(PIXELS.tolist(), [3, 28, 28], "UINT8", parameters={"binary_data_output": True},
                               outputs=[{"name": "digit", "parameters": {"binary_data": False}}])
    assert parse(one_overridden).outputs == (("digit", False),)


def test_is_digit_is_an_output_of_models_with_the_decision_only() -> None:
    body = json_body(PIXELS.tolist(), [3, 28, 28], "UINT8")
    assert parse(body, decision=True).outputs == (("probabilities", False), ("digit", False),
                                                  ("is_digit", False))
    asked = json_body(PIXELS.tolist(), [3, 28, 28], "UINT8", outputs=[{"name": "is_digit"}])
    assert parse(asked, decision=True).outputs == (("is_digit", False),)
    error = raised(parse, asked)
    assert error.status == 400 and "'is_digit'" in error.message
    assert "no 'not a digit' decision" in error.message


def test_batch_limit_is_enforced_before_reading_data() -> None:
    error = error_of(json_body([], [5, 784], "UINT8"), max_batch=4)
    assert error.status == 400 and "5" in error.message and "1 to 4" in error.message


def predictions(n: int) -> dict[str, np.ndarray]:
    proba = RNG.random((n, 10)).astype(np.float32)
    proba /= proba.sum(axis=1, keepdims=True)
    return {"probabilities": proba, "digit": proba.argmax(axis=1), "is_digit": proba.max(axis=1) > 0.15}


@pytest.mark.parametrize("binary", [False, True])
def test_responses_decode_with_the_standard_client(binary: bool) -> None:
    values = predictions(3)
    digits, proba = values["digit"], values["probabilities"]
    request = parse(json_body(PIXELS.tolist(), [3, 28, 28], "UINT8", id="req-9",
                              parameters={"binary_data_output": binary}), decision=True)
    body, header_length = encode_response("mnist-cnn", "1", request.id, request.outputs, values)
    assert (header_length is not None) == binary
    result = InferResult.from_response_body(body, header_length=header_length)
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == ("mnist-cnn", "1", "req-9")
    assert [o["name"] for o in response["outputs"]] == ["probabilities", "digit", "is_digit"]
    np.testing.assert_array_equal(result.as_numpy("is_digit"), values["is_digit"])
    assert result.as_numpy("is_digit").dtype == np.bool_
    np.testing.assert_array_equal(result.as_numpy("probabilities"), proba)
    assert result.as_numpy("probabilities").dtype == np.float32
    np.testing.assert_array_equal(result.as_numpy("digit"), digits)
    assert result.as_numpy("digit").dtype == np.int64


def test_response_mixes_binary_and_json_outputs_and_omits_a_missing_id() -> None:
    values = predictions(2)
    digits = values["digit"]
    request = parse(json_body(PIXELS[:2].tolist(), [2, 28, 28], "UINT8", outputs=[
        {"name": "digit", "parameters": {"binary_data": True}}, {"name": "probabilities"}]))
    body, header_length = encode_response("m", "3", request.id, request.outputs, values)
    assert header_length is not None
    header = orjson.loads(body[:header_length])
    assert "id" not in header
    assert header["outputs"][0] == {"name": "digit", "datatype": "INT64", "shape": [2],
                                    "parameters": {"binary_data_size": 16}}
    assert header["outputs"][1]["shape"] == [2, 10] and len(header["outputs"][1]["data"]) == 20
    assert body[header_length:] == digits.astype("<i8").tobytes()


def exact_path(body: bytes) -> Any:
    """What the exact path (orjson, np.asarray) makes of a body: with the fast path disabled."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("service.codecs.v2.protocol._cut_flat_data", lambda header: None)
        try:
            return parse(body).images
        except ServiceError as exc:
            return ("error", exc.status, exc.message)


def outcome(body: bytes) -> Any:
    try:
        return parse(body).images
    except ServiceError as exc:
        return ("error", exc.status, exc.message)


FLAT = PIXELS.reshape(-1).tolist()


@pytest.mark.parametrize("body", [
    json_body(FLAT, [3, 784], "UINT8"),
    json_body(FLAT, [3, 28, 28], "FP32"),
    orjson.dumps({"inputs": [{"name": "images", "shape": [3, 784], "datatype": "UINT8"}]})[:-2]
    + b', "data" :\n [ ' + b" , ".join(str(v).encode() for v in FLAT) + b" ] }]}",  # spaces, newlines
    json_body(FLAT[:-1], [3, 784], "UINT8"),  # one value short
    json_body([*FLAT[:-1], 300], [3, 784], "UINT8"),  # out of range
    json_body([*FLAT[:-1], 200], [3, 784], "INT8"),  # more than INT8 holds
    json_body(FLAT, [3, 784], "UINT8", parameters={"data": [1, 2]}),  # the key twice
    json_body(FLAT, [3, 784], "BOOL"),
    json_body([float(v) for v in FLAT], [3, 784], "FP32"),  # floats: the exact path
    json_body(PIXELS.tolist(), [3, 28, 28], "UINT8"),  # nested: the exact path
], ids=["flat", "fp32", "whitespace", "short", "range", "int8", "key twice", "bool", "floats", "nested"])
def test_flat_integer_data_read_from_the_bytes_matches_the_exact_path(body: bytes) -> None:
    from service.codecs.v2.protocol import _cut_flat_data

    if b"[[" not in body and b".0" not in body and body.count(b"\"data\"") == 1:  # the fast path is taken
        assert _cut_flat_data(body) is not None
    fast, exact = outcome(body), exact_path(body)
    if isinstance(exact, tuple):
        assert fast == exact
    else:
        assert fast.dtype == exact.dtype == np.float32
        np.testing.assert_array_equal(fast, exact)


def test_a_data_key_outside_the_input_is_not_taken_for_its_data() -> None:
    blob = PIXELS.astype(np.uint8).tobytes()
    header = orjson.dumps({"inputs": [{"name": "images", "shape": [3, 784], "datatype": "UINT8",
                                       "parameters": {"binary_data_size": len(blob)}}],
                           "parameters": {"data": [9, 9, 9]}})
    np.testing.assert_array_equal(parse(header + blob, str(len(header))).images, EXPECTED)
    only_elsewhere = orjson.dumps({"inputs": [{"name": "images", "shape": [1, 784], "datatype": "UINT8"}],
                                   "parameters": {"data": [1] * 784}})
    assert "no data" in error_of(only_elsewhere).message


def test_data_with_more_numbers_than_the_batch_limit_is_refused_before_it_is_decoded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_: Any) -> Any:
        raise AssertionError("the body was decoded")

    monkeypatch.setattr(protocol, "small_uints", never)
    monkeypatch.setattr(protocol, "load_json", never)
    error = error_of(json_body([0] * 784 * 4, [1, 784], "UINT8"), max_batch=2)
    assert error.status == 400
    assert "images' worth of numbers" in error.message and "limit of 2" in error.message


def test_a_header_length_of_thousands_of_digits_is_a_bad_request() -> None:
    with pytest.raises(ServiceError) as excinfo:
        split_body(b'{"inputs": []}', "9" * 5000)
    assert excinfo.value.status == 400 and "Inference-Header-Content-Length" in excinfo.value.message
    assert split_body(b'{}12', "0002") == (b"{}", b"12")  # leading zeros are still a length
