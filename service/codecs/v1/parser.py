"""The /v1 JSON parser: `parse_single` and `parse_batch` turn /v1/predict and /v1/predict/batch
bodies into (N, 784) float32 pixels, with strict validation, fast for good input and precise for bad.

The common batch body, integer pixels in one form, is parsed straight from its bytes by NumPy
(`integer_images`). Any other body goes through orjson: NumPy converts each field to an array in
C, and whole-array checks test shape, finiteness and the 0-255 range. Only when a check fails (or
the body holds a JSON boolean or null, which NumPy would silently turn into a number) does the
slow path walk the offending image in Python to say exactly which image, row and column is wrong.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from service.codecs.integers import small_uints
from service.codecs.json_body import has_json_literals, images_worth, load_json
from service.codecs.pixels import PIXELS, SIDE, first_bad_pixel
from service.errors import ServiceError

MAX_DETAILS = 20
# A one-image body with more numbers than this many images is refused before it is decoded. Not 1:
# a slightly malformed image (29 rows, say) gets the exact error that locates the problem.
SINGLE_WORTH = 4


def require_json(content_type: str | None) -> None:
    """415 unless the Content-Type is JSON."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ServiceError(415, f"body must be application/json, got {media or 'no Content-Type'}")


def parse_json(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The request body as a JSON object; 415 if it is not JSON, 400 if it does not parse."""
    require_json(content_type)
    obj = load_json(body)
    if not isinstance(obj, dict):
        raise ServiceError(422, f"body must be a JSON object, got {type(obj).__name__}",
                       [{"loc": ["body"], "msg": "expected an object", "type": "object_type"}])
    return obj


def check_fields(obj: dict[str, Any], required: str, optional: tuple[str, ...] = ()) -> None:
    """422 for a missing required field or an unknown one, naming both when both are wrong (a
    misspelt key is usually the one unknown field beside the missing one)."""
    extra = sorted(set(obj) - {required, *optional})
    unknown = [{"loc": ["body", k], "msg": "unknown field", "type": "extra_forbidden"} for k in extra]
    if required not in obj:
        also = f"; unknown field{'s' * (len(extra) > 1)} {', '.join(map(repr, extra))}" if extra else ""
        raise ServiceError(422, f"body.{required}: field required{also}",
                       [{"loc": ["body", required], "msg": "field required", "type": "missing"}, *unknown])
    if extra:
        raise ServiceError(422, f"body.{extra[0]}: unknown field", unknown)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _describe(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, float) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _image_problem(image: Any, loc: list[Any]) -> dict[str, Any] | None:
    """The first structural problem of one image (slow, exact), or None if it is well-formed."""
    form = "an image must be 28 rows of 28 numbers or a flat list of 784 numbers"
    if not isinstance(image, list):
        return {"loc": loc, "msg": f"expected a list, got {_describe(image)}; {form}", "type": "list_type"}
    if len(image) == PIXELS and not any(isinstance(v, list) for v in image):
        for c, v in enumerate(image):
            if not _is_number(v):
                return {"loc": [*loc, c], "msg": f"value {c} is not a number: {_describe(v)}",
                        "type": "number_type"}
        return None
    if len(image) != SIDE:
        return {"loc": loc, "msg": f"has {len(image)} entries; {form}", "type": "image_shape"}
    for r, row in enumerate(image):
        if not isinstance(row, list):
            return {"loc": [*loc, r], "msg": f"row {r} is not a list: {_describe(row)}", "type": "list_type"}
        if len(row) != SIDE:
            return {"loc": [*loc, r], "msg": f"row {r} has {len(row)} values, expected 28",
                    "type": "row_length"}
        for c, v in enumerate(row):
            if not _is_number(v):
                return {"loc": [*loc, r, c], "msg": f"row {r}, column {c} is not a number: {_describe(v)}",
                        "type": "number_type"}
    return None


def _value_problem(pixels: np.ndarray, loc: list[Any], nested: bool) -> dict[str, Any] | None:
    """NaN, infinity or a value outside 0-255 in one image (N=784 float64), or None."""
    bad = first_bad_pixel(pixels.reshape(SIDE, SIDE) if nested else pixels)
    if bad is None:
        return None
    where = [*loc, *bad.index]
    place = f"row {bad.index[0]}, column {bad.index[1]}" if nested else f"value {bad.index[0]}"
    if not bad.finite:
        return {"loc": where, "msg": f"{place} is {bad.value}; pixels must be finite",
                "type": "finite_number"}
    return {"loc": where, "msg": f"{place} is {bad.value:g}, outside 0-255", "type": "pixel_range"}


def _huge_number_problem(image: list[Any], loc: list[Any]) -> dict[str, Any]:
    """Locate the first value outside 0-255 in a well-formed image that NumPy could not convert."""
    nested = len(image) == SIDE
    values = [v for row in image for v in row] if nested else image
    i = next((j for j, v in enumerate(values) if not 0 <= v <= 255), 0)
    where = [*loc, i // SIDE, i % SIDE] if nested else [*loc, i]
    place = f"row {i // SIDE}, column {i % SIDE}" if nested else f"value {i}"
    return {"loc": where, "msg": f"{place} is {_describe(values[i])}, outside 0-255", "type": "pixel_range"}


def _as_image(value: Any) -> tuple[np.ndarray | None, bool]:
    """Fast conversion of one image to float64 (784,), and whether it was nested; None if odd."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged
        return None, False
    if arr.dtype.kind not in "iuf" or arr.shape not in ((SIDE, SIDE), (PIXELS,)):
        return None, False
    return arr.reshape(PIXELS).astype(np.float64, copy=False), arr.ndim == 2


def images_from(values: list[Any], loc: list[Any], suspicious: bool, single: bool = False) -> np.ndarray:
    """Validate a list of images; (N, 784) float32, or ServiceError(422) listing what is wrong where.

    `loc` locates the list in the body (e.g. ["body", "images"]); with `single`, `values` is
    the one image at `loc` (e.g. ["body", "pixels"]) wrapped in a list.
    """
    try:  # one array for the whole batch when every image has the same form
        batch = np.asarray(values)
        uniform = batch.dtype.kind in "iuf" and batch.shape[1:] in ((SIDE, SIDE), (PIXELS,))
    except (ValueError, TypeError):
        uniform = False
    if uniform and not suspicious:
        flat = batch.reshape(len(values), PIXELS)
        if first_bad_pixel(flat) is None:  # checked in the parsed dtype: one conversion, to float32
            return flat.astype(np.float32)
    problems: list[dict[str, Any]] = []
    out = np.empty((len(values), PIXELS), np.float32)
    for i, value in enumerate(values):
        image_loc = loc if single else [*loc, i]
        arr, nested = (None, False) if suspicious else _as_image(value)
        problem = _image_problem(value, image_loc) if arr is None else None
        if arr is None and problem is None:  # well-formed after the exact check (suspicious path)
            arr, nested = _as_image(value)
            if arr is None:  # numbers NumPy cannot hold, such as integers beyond the float range
                problem = _huge_number_problem(value, image_loc)
        if problem is None and arr is not None:
            problem = _value_problem(arr, image_loc, nested)
            out[i] = arr
        if problem is not None:
            problems.append(problem)
            if len(problems) >= MAX_DETAILS:
                break
    if problems:
        first = problems[0]
        label = str(loc[-1]) if single else f"{loc[-1]}[{first['loc'][len(loc)]}]"
        raise ServiceError(422, f"{label}: {first['msg']}", problems)
    return out


_WHITESPACE = b" \t\r\n"
_DIGITS = b"0123456789"
# The punctuation of one image, numbers left out (a number sits in every gap that opens with
# `[` or `,` and closes with `,` or `]`).
NESTED_PUNCT = b"[" + b",".join([b"[" + b"," * (SIDE - 1) + b"]"] * SIDE) + b"]"
FLAT_PUNCT = b"[" + b"," * (PIXELS - 1) + b"]"
_OPEN, _CLOSE = b"[]"


def integer_images(body: bytes, field: str) -> np.ndarray | None:
    """The fast path for the common batch body: `{"<field>": [...]}` of integer pixels 0-255.

    Parses the digits straight from the bytes with NumPy (`codecs.integers.small_uints`), never
    building Python lists. The body, whitespace removed, must be N images all in one form: its
    punctuation equal to theirs, and exactly one number (1-3 digits, no leading zero) in each gap
    that must hold one, so it is valid JSON of the right shape by construction. Returns None for
    anything else (floats, mixed forms, other fields, bad input): the caller then takes the exact
    path, which parses with orjson and locates any error. For a batch it is several times faster
    than orjson and `np.asarray` (benchmarks/bench_parsing.py).
    """
    # each pass over a ~0.5 MB body counts: whitespace is removed only if there is any
    spaced = any(c in body for c in (b" ", b"\n", b"\r", b"\t"))
    compact = body.translate(None, _WHITESPACE) if spaced else body
    prefix = b'{"' + field.encode() + b'":'
    if not (compact.startswith(prefix) and compact.endswith(b"]}")):
        return None
    punct = compact.translate(None, _DIGITS)[len(prefix) : -1]  # the key has no digits
    if punct.translate(None, b",[]"):
        return None
    image = NESTED_PUNCT if compact.startswith(b"[[[", len(prefix)) else FLAT_PUNCT
    n = (len(punct) - 1) // (len(image) + 1)  # images are joined by "," inside the outer "[...]"
    if n == 0 or punct != b"[" + b",".join([image] * n) + b"]":
        return None
    # a digit must not touch a bracket from outside its gap (`]5` or `5[`): the brackets are dropped below
    a = np.frombuffer(compact, np.uint8, len(compact) - len(prefix) - 1, len(prefix))
    digit = (a - np.uint8(48)) < 10
    if (digit[1:] & (a[:-1] == _CLOSE)).any() or (digit[:-1] & (a[1:] == _OPEN)).any():
        return None
    values = small_uints(compact.translate(None, b"[]")[len(prefix) : -1])  # None: an empty gap, a leading 0
    if values is None or len(values) != n * PIXELS or values.max() > 255:
        return None
    return values.astype(np.float32).reshape(n, PIXELS)


def parse_single(body: bytes, content_type: str | None) -> np.ndarray:
    """The /v1/predict body `{"pixels": image}` as (1, 784) float32; ServiceError says what is wrong."""
    require_json(content_type)
    worth = images_worth(body)
    if worth > SINGLE_WORTH:
        raise ServiceError(422, f"pixels: the body holds {worth} images' worth of numbers; send one image "
                       f"of {PIXELS} (or 28 rows of 28), or several to /v1/predict/batch",
                       [{"loc": ["body", "pixels"], "msg": "too many values", "type": "too_long"}])
    # one image: orjson beats the byte-level batch parser, whose NumPy passes have a fixed cost
    obj = parse_json(body, content_type)
    check_fields(obj, "pixels")
    return images_from([obj["pixels"]], ["body", "pixels"], has_json_literals(body, "pixels"), single=True)


def _check_count(images: int, limit: int, worth: str = "") -> None:
    if images > limit:
        raise ServiceError(422, f"images: {images} images{worth} is more than the limit of {limit}",
                       [{"loc": ["body", "images"], "msg": f"at most {limit} images", "type": "too_long"}])


def parse_batch(body: bytes, content_type: str | None, limit: int) -> np.ndarray:
    """The /v1/predict/batch body `{"images": [1 to limit images]}` as (N, 784) float32."""
    require_json(content_type)
    _check_count(images_worth(body), limit, "' worth of numbers")  # before anything is built
    fast = integer_images(body, "images")
    if fast is not None:  # already parsed: only its count can still be wrong
        _check_count(len(fast), limit)
        return fast
    obj = parse_json(body, content_type)
    check_fields(obj, "images")
    images = obj["images"]
    if not isinstance(images, list):
        raise ServiceError(422, "images: expected a list of images",
                       [{"loc": ["body", "images"], "msg": "expected a list", "type": "list_type"}])
    if not images:
        raise ServiceError(422, "images: the batch is empty; send 1 to "
                       f"{limit} images", [{"loc": ["body", "images"], "msg": "empty batch",
                                             "type": "too_short"}])
    _check_count(len(images), limit)
    return images_from(images, ["body", "images"], has_json_literals(body, "images"))
