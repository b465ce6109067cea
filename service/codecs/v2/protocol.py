"""Open Inference Protocol (KServe v2) inference bodies, with Triton's binary tensor data extension.

A request body is a JSON object, optionally followed by raw tensor bytes; then the
`Inference-Header-Content-Length` header gives the JSON's length and each binary input says its
size in `parameters.binary_data_size`. The one input, `images`, holds raw 0-255 pixels as
[N, 28, 28], [N, 784] or [N, 1, 28, 28], in any numeric datatype. Binary tensors are read with
`np.frombuffer`; JSON data, when it is one flat list of integers (as tritonclient sends it),
straight from the bytes (`codecs.integers`), else with orjson and one `np.asarray`; checks run on
whole arrays.
A body of the tensor's bytes alone (`Inference-Header-Content-Length: 0`) is a raw binary request.
Every problem is a ServiceError (400, or 413/415 for the body itself) saying what and where; under
PATH_PREFIX errors take the protocol's shape (`errors.error_body`), which `service.api.handlers`
applies. Framing is in `body.py`, outputs and the response in `outputs.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from pydantic import ValidationError

from service.codecs.integers import only_digits_and_commas, small_uints
from service.codecs.json_body import has_json_literals, images_worth, load_json
from service.codecs.pixels import PIXELS, SIDE, first_bad_pixel
from service.codecs.v2.body import decompress, split_body
from service.codecs.v2.errors import bad_input as _bad
from service.codecs.v2.outputs import OUTPUTS, requested_outputs
from service.codecs.v2.schemas import INPUT_NAME, InferenceRequestBody, RequestInput

IMAGE_SHAPES = ((SIDE, SIDE), (PIXELS,), (1, SIDE, SIDE))  # after the batch dimension
# Little-endian, as the binary extension specifies; JSON data is cast to the same types.
DATATYPES: dict[str, np.dtype[Any]] = {name: np.dtype(code) for name, code in (
    ("UINT8", "u1"), ("UINT16", "<u2"), ("UINT32", "<u4"), ("UINT64", "<u8"),
    ("INT8", "i1"), ("INT16", "<i2"), ("INT32", "<i4"), ("INT64", "<i8"),
    ("FP16", "<f2"), ("FP32", "<f4"), ("FP64", "<f8"))}
NOT_PIXELS = ("BOOL", "BYTES", "BF16")  # in the spec, but no way to carry 0-255 grayscale
# Stands in for a flat integer `data` list read straight from the bytes (a string no client sends)
FAST_DATA = "\x00data parsed from the bytes"
FAST_DATA_JSON = orjson.dumps(FAST_DATA)
RAW_DATATYPES = ("FP32", "UINT8")  # what a raw binary request's size can say it holds


@dataclass(frozen=True)
class InferenceRequest:
    """A validated request: the images as (N, 784) float32 0-255, and the outputs wanted."""

    id: str | None
    images: np.ndarray
    outputs: tuple[tuple[str, bool], ...]  # (name, as binary), in response order


def _load_json(header: bytes) -> dict[str, Any]:
    obj = load_json(header, " in the inference request")
    if not isinstance(obj, dict):
        raise _bad(f"the inference request must be a JSON object, got {type(obj).__name__}")
    return obj


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "body"


def _validated(obj: dict[str, Any]) -> InferenceRequestBody:
    try:
        return InferenceRequestBody.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _bad(f"{_where(tuple(first['loc']))}: {first['msg']}") from None


def check_shape(shape: list[int], max_batch: int) -> None:
    forms = "[N, 28, 28], [N, 784] or [N, 1, 28, 28]"
    if len(shape) < 2 or tuple(shape[1:]) not in IMAGE_SHAPES:
        raise _bad(f"input '{INPUT_NAME}': shape {shape} is not an image batch; use {forms}")
    if not 1 <= shape[0] <= max_batch:
        raise _bad(f"input '{INPUT_NAME}': batch size {shape[0]} must be 1 to {max_batch} "
                   "(MNIST_MAX_BATCH_SIZE)")


def check_inputs(names: list[str]) -> None:
    if names != [INPUT_NAME]:
        raise _bad(f"the model takes one input, '{INPUT_NAME}'; got {names}")


def dtype_of(datatype: str) -> np.dtype[Any]:
    if datatype in DATATYPES:
        return DATATYPES[datatype]
    supported = ", ".join(DATATYPES)
    if datatype in NOT_PIXELS:
        raise _bad(f"input '{INPUT_NAME}': datatype {datatype} cannot carry pixels; use FP32 or UINT8 "
                   f"(any of {supported})")
    raise _bad(f"input '{INPUT_NAME}': unknown datatype {datatype!r}; use one of {supported}")


def _binary_size(tensor: RequestInput) -> int | None:
    size = tensor.parameters.get("binary_data_size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _bad(f"input '{tensor.name}': parameters.binary_data_size must be a non-negative "
                   f"integer, got {size!r}")
    return size


def _from_binary(tensor: RequestInput, dtype: np.dtype[Any], size: int, blob: bytes) -> np.ndarray:
    count = math.prod(tensor.shape)
    if size != count * dtype.itemsize:
        raise _bad(f"input '{tensor.name}': binary_data_size is {size} bytes, but shape {tensor.shape} "
                   f"of {tensor.datatype} needs {count * dtype.itemsize}")
    return np.frombuffer(blob, dtype, count).reshape(tensor.shape)


def _cut_flat_data(header: bytes) -> tuple[bytes, np.ndarray] | None:
    """The common JSON body's one flat `"data": [integers]`, parsed from the bytes, and the header
    with the list replaced by FAST_DATA; None when the body is anything else (the exact path)."""
    if header.count(b'"data"') != 1:
        return None
    key = header.index(b'"data"') + len(b'"data"')
    rest = header[key : key + 16].lstrip()
    if not rest.startswith(b":") or not rest[1:].lstrip().startswith(b"["):
        return None
    start = header.index(b"[", key)
    end = header.find(b"]", start)
    if end < 0:
        return None
    text = header[start + 1 : end].translate(None, b" \t\r\n")
    if not only_digits_and_commas(text):  # nested, floats, literals, ...: the exact path
        return None
    values = small_uints(text)
    if values is None:
        return None
    return header[:start] + FAST_DATA_JSON + header[end + 1 :], values


def _from_json(tensor: RequestInput, dtype: np.dtype[Any], header: bytes,
               parsed: np.ndarray | None = None) -> np.ndarray:
    """The tensor's JSON `data` as an array of `dtype`; `parsed` is that data already read by
    `_cut_flat_data` (flat integers)."""
    if "data" not in tensor.model_fields_set:
        raise _bad(f"input '{tensor.name}': no data; give `data`, or send it as binary with "
                   "parameters.binary_data_size")
    try:
        arr = np.asarray(tensor.data) if parsed is None else parsed
    except (ValueError, TypeError):  # ragged nesting
        raise _bad(f"input '{tensor.name}': data is ragged; give {math.prod(tensor.shape)} numbers, flat "
                   f"or nested to the shape {tensor.shape}") from None
    if arr.dtype.kind not in "iuf" or (parsed is None and has_json_literals(header)
                                       and _holds_booleans(tensor.data)):
        raise _bad(f"input '{tensor.name}': data must hold only numbers, 0 to 255")
    return checked_values(arr, tensor.name, tensor.shape, tensor.datatype, dtype)


def checked_values(arr: np.ndarray, name: str, shape: list[int], datatype: str,
                   dtype: np.dtype[Any]) -> np.ndarray:
    """Numbers given as values, not raw bytes (JSON `data`, gRPC typed contents), as a tensor of
    `shape` and `dtype`: as many as the shape needs, flat or nested to it, pixels, and each one a
    value `datatype` can hold."""
    expected = math.prod(shape)
    if arr.size != expected:
        raise _bad(f"input '{name}': data has {arr.size} values, but shape {shape} needs {expected}")
    if arr.shape != tuple(shape) and arr.ndim != 1:
        raise _bad(f"input '{name}': data is nested as {list(arr.shape)}; nest it as the shape "
                   f"{shape} or give it flat")
    arr = arr.reshape(shape)
    check_pixels(arr, name)
    if dtype.kind in "iu":  # the values must be what a tensor of that type could hold
        misfit = arr > np.iinfo(dtype).max
        if arr.dtype.kind == "f":
            misfit |= arr != np.floor(arr)
        if misfit.any():
            index = _index(misfit, arr.shape)
            raise _bad(f"input '{name}': element {index} is {arr[tuple(index)]:g}, which datatype "
                       f"{datatype} cannot hold")
    return arr.astype(dtype)


def _holds_booleans(data: Any) -> bool:
    """Whether numeric-looking JSON data holds true/false, which NumPy silently turns into 1/0.

    Only asked when the body holds such a literal (tritonclient's `"binary_data": true` does): the
    data is re-serialised in C and searched, value by value only if orjson cannot (huge integers).
    """
    try:
        text = orjson.dumps(data)
    except orjson.JSONEncodeError:
        return any(isinstance(v, bool) for v in np.asarray(data, dtype=object).ravel().tolist())
    return b"true" in text or b"false" in text


def _index(mask: np.ndarray, shape: tuple[int, ...]) -> list[int]:
    return [int(i) for i in np.unravel_index(int(np.argmax(mask)), shape)]


def check_pixels(arr: np.ndarray, name: str) -> None:
    """400 naming the first element that is NaN, infinite or outside 0-255."""
    bad = first_bad_pixel(arr)
    if bad is None:
        return
    index = list(bad.index)
    if not bad.finite:
        raise _bad(f"input '{name}': element {index} is {bad.value}; pixels must be finite numbers")
    raise _bad(f"input '{name}': element {index} is {bad.value:g}, outside the pixel range 0-255 "
               "(raw grayscale, white digit on black)")


def _images(tensors: list[RequestInput], header: bytes, blob: bytes, max_batch: int,
            parsed: np.ndarray | None = None) -> np.ndarray:
    sizes = [_binary_size(t) for t in tensors]
    declared = sum(s for s in sizes if s is not None)
    if declared and not blob:
        raise _bad(f"the inputs declare {declared} bytes of binary data (binary_data_size), but none "
                   "follows the JSON; append it and give the JSON's length in the "
                   "Inference-Header-Content-Length header")
    if declared != len(blob):
        raise _bad(f"the inputs' binary_data_size add up to {declared} bytes, but {len(blob)} bytes "
                   "follow the JSON (Inference-Header-Content-Length)")
    check_inputs([t.name for t in tensors])
    tensor, size = tensors[0], sizes[0]
    check_shape(tensor.shape, max_batch)
    dtype = dtype_of(tensor.datatype)
    if size is None:
        arr = _from_json(tensor, dtype, header, parsed)
    else:
        if "data" in tensor.model_fields_set:
            raise _bad(f"input '{tensor.name}': give either data or parameters.binary_data_size, not both")
        arr = _from_binary(tensor, dtype, size, blob)
        check_pixels(arr, tensor.name)
    return arr.reshape(len(arr), PIXELS).astype(np.float32)


def _raw_request(data: bytes, available: tuple[str, ...]) -> InferenceRequest:
    """A raw binary request: the body is one image's bytes, FP32 (the datatype the model metadata
    gives) or UINT8, told apart by their size; every output is answered binary."""
    for datatype in RAW_DATATYPES:
        dtype = DATATYPES[datatype]
        if len(data) == PIXELS * dtype.itemsize:
            arr = np.frombuffer(data, dtype).reshape(1, PIXELS)
            check_pixels(arr, INPUT_NAME)
            return InferenceRequest(None, arr.astype(np.float32), tuple((n, True) for n in available))
    sizes = " or ".join(f"{PIXELS * DATATYPES[d].itemsize} bytes of {d}" for d in RAW_DATATYPES)
    raise _bad(f"a raw binary request (Inference-Header-Content-Length: 0) is one image of "
               f"{SIDE}x{SIDE} pixels, little-endian: {sizes}; got {len(data)} bytes")


def _looks_binary(data: bytes, content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/octet-stream":
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return True
    return False


def parse_infer_request(body: bytes, header_length: str | None, content_encoding: str | None,
                        max_batch: int, max_bytes: int, available: tuple[str, ...] = tuple(OUTPUTS),
                        content_type: str | None = None) -> InferenceRequest:
    """Validate an inference request body; ServiceError says what is wrong and where."""
    data = decompress(body, content_encoding, max_bytes)
    if header_length is not None and header_length.strip() == "0":
        return _raw_request(data, available)
    if header_length is None and _looks_binary(data, content_type):
        raise _bad("the body holds binary data, but the Inference-Header-Content-Length header is "
                   "missing: give the JSON header's length in bytes, or 0 for a raw binary request "
                   "(one image's bytes alone)")
    header, blob = split_body(data, header_length)
    worth = images_worth(header)
    if worth > max_batch + 1:  # + 1: the header's own fields have a few commas too
        raise _bad(f"input '{INPUT_NAME}': the request holds {worth} images' worth of "
                   f"numbers, more than the batch limit of {max_batch} (MNIST_MAX_BATCH_SIZE)")
    fast = _cut_flat_data(header) if not blob else None
    if fast is not None:  # one flat list of integers: read from the bytes, the rest by orjson
        request = _validated(_load_json(fast[0]))
        if len(request.inputs) != 1 or request.inputs[0].data != FAST_DATA:  # the key was elsewhere
            fast = None
    if fast is None:
        request = _validated(_load_json(header))
    images = _images(request.inputs, header, blob, max_batch, None if fast is None else fast[1])
    return InferenceRequest(id=request.id, images=images, outputs=requested_outputs(request, available))
