"""service.codecs.v1.parser: JSON parsing and pixel validation, fast path and exact error locations."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest

from service.codecs.json_body import has_json_literals
from service.codecs.v1 import parser
from service.codecs.v1.parser import (
    MAX_DETAILS,
    check_fields,
    images_from,
    integer_images,
    parse_json,
)
from service.errors import ServiceError

IMAGES = ["body", "images"]
PIXELS = ["body", "pixels"]


def zeros() -> list[list[Any]]:
    return [[0] * 28 for _ in range(28)]


def with_value(r: int, c: int, v: Any) -> list[list[Any]]:
    image = zeros()
    image[r][c] = v
    return image


def error_of(values: list[Any], loc: list[Any] = IMAGES, suspicious: bool = False,
             single: bool = False) -> ServiceError:
    with pytest.raises(ServiceError) as excinfo:
        images_from(values, loc, suspicious, single=single)
    assert excinfo.value.status == 422
    assert excinfo.value.code == "invalid_input"
    return excinfo.value


# ---- parse_json

@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON", "application/problem+json"])
def test_parse_json_accepts_json_media_types(content_type: str) -> None:
    assert parse_json(b'{"pixels": [1, 2.5]}', content_type) == {"pixels": [1, 2.5]}


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_parse_json_refuses_other_media_types_with_415(content_type: str | None) -> None:
    with pytest.raises(ServiceError) as excinfo:
        parse_json(b"{}", content_type)
    assert excinfo.value.status == 415
    assert "application/json" in excinfo.value.message


@pytest.mark.parametrize("body", [b"{", b"", b"{'a': 1}", b'{"a": 1,}', b"\xff\xfe", b"nan", b'{"a": NaN',
                                  b"[" * 100_000 + b"]" * 100_000])  # too deep for orjson and json
def test_parse_json_malformed_is_400(body: bytes) -> None:
    with pytest.raises(ServiceError) as excinfo:
        parse_json(body, "application/json")
    assert excinfo.value.status == 400
    assert excinfo.value.message.startswith("malformed JSON")


@pytest.mark.parametrize("body", [b"[]", b"1", b'"pixels"', b"null", b"true"])
def test_parse_json_non_object_is_422_at_body(body: bytes) -> None:
    with pytest.raises(ServiceError) as excinfo:
        parse_json(body, "application/json")
    assert excinfo.value.status == 422
    assert excinfo.value.details[0]["loc"] == ["body"]


def test_parse_json_lets_nan_and_infinity_through_as_floats() -> None:
    obj = parse_json(b'{"pixels": [NaN, Infinity, -Infinity, 1]}', "application/json")
    values = obj["pixels"]
    assert np.isnan(values[0]) and values[1] == np.inf and values[2] == -np.inf and values[3] == 1


def test_check_fields() -> None:
    check_fields({"pixels": []}, "pixels")
    with pytest.raises(ServiceError) as missing:
        check_fields({"images": []}, "pixels")
    assert missing.value.details == [
        {"loc": ["body", "pixels"], "msg": "field required", "type": "missing"},
        {"loc": ["body", "images"], "msg": "unknown field", "type": "extra_forbidden"}]
    with pytest.raises(ServiceError) as extra:
        check_fields({"pixels": [], "b": 1, "a": 2}, "pixels")
    assert [d["loc"] for d in extra.value.details] == [["body", "a"], ["body", "b"]]
    assert extra.value.message == "body.a: unknown field"


@pytest.mark.parametrize(("body", "expected"), [(b'{"pixels": [1]}', False), (b'{"pixels": [true]}', True),
                                                (b'{"pixels": [false]}', True), (b'{"pixels":[null]}', True)])
def test_has_json_literals(body: bytes, expected: bool) -> None:
    assert has_json_literals(body) is expected
    assert has_json_literals(body, "pixels") is expected
    images = body.replace(b'"pixels"', b'"images"')
    assert has_json_literals(images, "images") is expected


def test_has_json_literals_with_a_field_may_only_err_towards_the_exact_check() -> None:
    assert has_json_literals(b'{"pixels": [1], "data": [2]}', "pixels")  # a false alarm, never a miss
    assert not has_json_literals(b'{"images": [[1, 2.5e2]]}', "images")


# ---- images_from: good input

def test_uniform_nested_batch_becomes_float32_rows() -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28))
    out = images_from(images.tolist(), IMAGES, False)
    assert out.dtype == np.float32
    assert out.shape == (3, 784)
    assert np.array_equal(out, images.reshape(3, 784))


def test_flat_and_nested_images_give_the_same_rows() -> None:
    image = np.random.default_rng(1).uniform(0, 255, (28, 28))
    out = images_from([image.tolist(), image.reshape(-1).tolist(), image.tolist()], IMAGES, False)
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[1], out[2])
    assert np.array_equal(out[0], image.reshape(-1).astype(np.float32))


def test_suspicious_body_still_accepts_good_numbers() -> None:
    # the body held "true" elsewhere (e.g. in a string), so the exact path runs: same result
    images = [with_value(3, 4, 200), [7.5] * 784]
    fast = images_from(images, IMAGES, False)
    exact = images_from(images, IMAGES, True)
    assert exact.dtype == np.float32
    assert np.array_equal(fast, exact)
    assert exact[0, 3 * 28 + 4] == 200 and exact[1, 0] == 7.5


def test_single_image() -> None:
    out = images_from([with_value(27, 27, 255)], PIXELS, False, single=True)
    assert out.shape == (1, 784) and out[0, -1] == 255


# ---- images_from: exact error locations

@pytest.mark.parametrize(("image", "loc_tail", "kind", "words"), [
    (with_value(4, 5, 256), [4, 5], "pixel_range", ["row 4, column 5 is 256", "0-255"]),
    (with_value(0, 0, -0.5), [0, 0], "pixel_range", ["-0.5"]),
    (with_value(1, 2, float("nan")), [1, 2], "finite_number", ["nan", "finite"]),
    (with_value(1, 2, float("-inf")), [1, 2], "finite_number", ["-inf"]),
    (with_value(6, 7, "3"), [6, 7], "number_type", ['"3"']),
    (with_value(6, 7, [3]), [6, 7], "number_type", ["[3]"]),
    (with_value(8, 9, {"v": 1}), [8, 9], "number_type", ["not a number"]),
    ([0] * 783, [], "image_shape", ["783 entries"]),
    ([0] * 50 + [300] + [0] * 733, [50], "pixel_range", ["value 50 is 300"]),
    ([0] * 50 + ["a"] + [0] * 733, [50], "number_type", ["value 50"]),
    (zeros()[:-1], [], "image_shape", ["27 entries"]),
    ([*zeros()[:10], [0] * 27, *zeros()[11:]], [10], "row_length", ["row 10 has 27 values, expected 28"]),
    ([*zeros()[:10], "row", *zeros()[11:]], [10], "list_type", ["row 10 is not a list"]),
    ("image", [], "list_type", ["expected a list"]),
    (None, [], "list_type", ["null"]),
    ([], [], "image_shape", ["0 entries"]),
    ([[0] * 28] * 28 + [[]], [], "image_shape", ["29 entries"]),
])
def test_bad_image_location_and_message(image: Any, loc_tail: list[Any], kind: str, words: list[str]) -> None:
    for suspicious in (False, True):
        error = error_of([zeros(), image], suspicious=suspicious)
        assert error.details == [error.details[0]]
        detail = error.details[0]
        assert detail["loc"] == [*IMAGES, 1, *loc_tail]
        assert detail["type"] == kind
        assert error.message.startswith("images[1]: ")
        for word in words:
            assert word in detail["msg"] and word in error.message


@pytest.mark.parametrize("literal", [True, False, None])
def test_json_literals_are_not_numbers(literal: Any) -> None:
    error = error_of([with_value(2, 3, literal)], suspicious=True)
    assert error.details[0]["loc"] == [*IMAGES, 0, 2, 3]
    assert json.dumps(literal) in error.message


def test_booleans_are_rejected_even_without_the_hint() -> None:
    # NumPy would make True a 1.0; the check must not depend only on the body scan
    error = error_of([[True] * 784], suspicious=False)
    assert error.details[0]["loc"] == [*IMAGES, 0, 0]


def test_single_image_errors_are_located_at_pixels() -> None:
    error = error_of([with_value(3, 4, 999)], loc=PIXELS, single=True)
    assert error.details[0]["loc"] == [*PIXELS, 3, 4]
    assert error.message.startswith("pixels: row 3, column 4 is 999")


def test_only_the_first_problem_of_each_image_is_reported() -> None:
    image = with_value(1, 1, -1)
    image[2][2] = 300
    error = error_of([image])
    assert [d["loc"] for d in error.details] == [[*IMAGES, 0, 1, 1]]


def test_all_bad_images_are_reported_up_to_the_cap() -> None:
    images = [zeros() if i % 2 else with_value(0, i % 28, -1) for i in range(2 * MAX_DETAILS + 10)]
    error = error_of(images)
    assert len(error.details) == MAX_DETAILS
    assert [d["loc"][2] for d in error.details] == list(range(0, 2 * MAX_DETAILS, 2))


def test_huge_integer_is_out_of_range() -> None:
    error = error_of([with_value(0, 0, 10 ** 400)])
    assert error.details[0]["loc"] == [*IMAGES, 0, 0, 0]
    assert error.details[0]["type"] == "pixel_range"


def test_int_beyond_int64_is_out_of_range() -> None:
    error = error_of([[2 ** 63] + [0] * 783])
    assert error.details[0]["loc"] == [*IMAGES, 0, 0]
    assert error.details[0]["type"] == "pixel_range"


# --- the byte-level fast path for integer pixels --------------------------------------------

FAST_RNG = np.random.default_rng(7)
FAST_IMAGES = FAST_RNG.integers(0, 256, (6, 28, 28))


@pytest.mark.parametrize("form", ["nested", "flat"])
@pytest.mark.parametrize("indent", [False, True])
def test_integer_images_parse_batches_exactly(form: str, indent: bool) -> None:
    images = FAST_IMAGES.tolist() if form == "nested" else FAST_IMAGES.reshape(6, -1).tolist()
    body = (json.dumps({"images": images}, indent=2).encode() if indent
            else orjson.dumps({"images": images}))
    fast = integer_images(body, "images")
    assert fast is not None and fast.dtype == np.float32
    np.testing.assert_array_equal(fast, FAST_IMAGES.reshape(6, -1))
    np.testing.assert_array_equal(fast, images_from(orjson.loads(body)["images"], ["body", "images"], False))


@pytest.mark.parametrize("body", [
    orjson.dumps({"images": [FAST_IMAGES[0].tolist(), FAST_IMAGES[1].ravel().tolist()]}),  # mixed forms
    orjson.dumps({"images": (FAST_IMAGES + 0.5).tolist()}),  # floats
    orjson.dumps({"images": FAST_IMAGES.tolist(), "extra": 1}),  # another field
    orjson.dumps({"images": []}),  # empty batch
    b'{"images":[[' + b"007," * 783 + b"1]]}",  # leading zeros are not JSON
    orjson.dumps({"images": [[[256] * 28] * 28]}),  # out of range
    orjson.dumps({"images": [[[1000] * 28] * 28]}),
    orjson.dumps({"images": [[[1] * 27] * 28]}),  # short rows
    orjson.dumps({"images": [[1] * 785]}),  # too many values
    orjson.dumps({"images": [[[-1] * 28] * 28]}),  # negative
    orjson.dumps({"images": FAST_IMAGES.tolist()})[:-2] + b"}",  # truncated JSON
    orjson.dumps({"images": [[1] * 784]})[:-1],  # no closing brace
    orjson.dumps({"pixels": FAST_IMAGES[0].tolist()}),  # wrong field
    b'{"images":[[' + b"1," * 783 + b"]5]}",  # right punctuation and count, a number out of place
    b'{"images":[[' + b"1," * 782 + b"1 1]]}",  # two numbers in one gap (whitespace between)
], ids=lambda b: b[:40].decode(errors="replace"))
def test_integer_images_leave_everything_else_to_the_exact_path(body: bytes) -> None:
    assert integer_images(body, "images") is None


def _never(*_: Any) -> Any:
    raise AssertionError("the body was decoded")


def test_bodies_with_too_many_numbers_are_refused_before_they_are_decoded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "load_json", _never)
    monkeypatch.setattr(parser, "integer_images", _never)
    five = b'{"pixels": [' + b",".join([b"0.5"] * 784 * 5) + b"]}"
    with pytest.raises(ServiceError) as single:
        parser.parse_single(five, "application/json")
    assert single.value.status == 422 and "5 images' worth" in single.value.message
    assert single.value.details[0]["loc"] == PIXELS
    over = b'{"images": [' + b",".join([b"[" + b",".join([b"1"] * 784) + b"]"] * 3) + b"]}"
    with pytest.raises(ServiceError) as batch:
        parser.parse_batch(over, "application/json", limit=2)
    assert batch.value.status == 422 and "limit of 2" in batch.value.message
    assert batch.value.details[0]["loc"] == IMAGES


def test_an_image_a_row_too_long_still_gets_the_error_that_locates_it() -> None:
    image = [*zeros(), [0] * 28]
    with pytest.raises(ServiceError) as excinfo:
        parser.parse_single(orjson.dumps({"pixels": image}), "application/json")
    assert "has 29 entries" in excinfo.value.message


def test_a_misspelt_field_is_named_beside_the_missing_one() -> None:
    with pytest.raises(ServiceError) as excinfo:
        parser.parse_single(b'{"image": []}', "application/json")
    error = excinfo.value
    assert error.message == "body.pixels: field required; unknown field 'image'"
    assert [d["loc"] for d in error.details] == [["body", "pixels"], ["body", "image"]]
