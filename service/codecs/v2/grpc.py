"""The Open Inference Protocol's gRPC inference messages: ModelInferRequest to validated pixels,
outputs to ModelInferResponse.

The checks are the REST codec's (service/codecs/v2/protocol.py): the one input `images`, its shape,
datatype and pixels, the outputs asked for; only how the tensor travels differs. An input's data is
either typed (`contents`, in the field its datatype names: `fp32_contents` for FP32, `uint_contents`
for UINT8/16/32, ...) or raw little-endian bytes (`raw_input_contents`, one entry per input, read
with `np.frombuffer`, no copy). The outputs go back the way the input came (raw or typed), unless
the request parameter `binary_data_output` says otherwise; the protocol allows no mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.codecs.pixels import PIXELS
from service.codecs.v2.errors import bad_input as _bad
from service.codecs.v2.outputs import OUTPUTS, chosen_outputs
from service.codecs.v2.protocol import (
    InferenceRequest,
    check_inputs,
    check_pixels,
    check_shape,
    checked_values,
    dtype_of,
)
from service.grpc.protos import inference_pb2 as pb

# The InferTensorContents field of each datatype (8- and 16-bit integers travel in 32-bit fields);
# FP16 has none: it can only be sent raw.
CONTENTS_FIELDS = {"BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
                   "UINT32": "uint_contents", "UINT64": "uint64_contents", "INT8": "int_contents",
                   "INT16": "int_contents", "INT32": "int_contents", "INT64": "int64_contents",
                   "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}
# What a typed field holds, to read it into an array at once
FIELD_DTYPES = {"uint_contents": np.uint32, "uint64_contents": np.uint64, "int_contents": np.int32,
                "int64_contents": np.int64, "fp32_contents": np.float32, "fp64_contents": np.float64}


# Reading typed values costs about this much per value (raw bytes cost next to nothing: no copy)
TYPED_SECONDS_PER_VALUE = 2e-8


@dataclass(frozen=True)
class GRPCInferenceRequest(InferenceRequest):
    raw_outputs: bool = True  # the outputs go back in raw_output_contents, else typed


def decode_seconds(request: Any) -> float:
    """The expected cost of parse_model_infer(request)."""
    if request.raw_input_contents:
        return 0.0
    return sum(math.prod(t.shape) for t in request.inputs) * TYPED_SECONDS_PER_VALUE


def parameter_value(parameter: Any) -> Any:
    """An InferParameter or ModelRepositoryParameter as a Python value (None if unset)."""
    which = parameter.WhichOneof("parameter_choice")
    return None if which is None else getattr(parameter, which)


def parameters_dict(parameters: Any) -> dict[str, Any]:
    return {key: parameter_value(value) for key, value in parameters.items()}


def _typed(tensor: Any, dtype: np.dtype[Any]) -> np.ndarray:
    expected = CONTENTS_FIELDS.get(tensor.datatype)
    if expected is None:
        raise _bad(f"input '{tensor.name}': datatype {tensor.datatype} has no typed contents field; "
                   "send it in raw_input_contents")
    given = [field.name for field, _ in tensor.contents.ListFields()]
    if not given:
        raise _bad(f"input '{tensor.name}': no data; give it in contents.{expected} or in "
                   "raw_input_contents")
    if given != [expected]:
        raise _bad(f"input '{tensor.name}': datatype {tensor.datatype} takes its data in "
                   f"contents.{expected}; got {', '.join('contents.' + g for g in given)}")
    values = np.array(getattr(tensor.contents, expected), dtype=FIELD_DTYPES[expected])
    return checked_values(values, tensor.name, list(tensor.shape), tensor.datatype, dtype)


def _raw(tensor: Any, dtype: np.dtype[Any], raw: bytes, index: int) -> np.ndarray:
    if tensor.HasField("contents") and tensor.contents.ListFields():
        raise _bad(f"input '{tensor.name}': give either contents or raw_input_contents, not both")
    count = math.prod(tensor.shape)
    if len(raw) != count * dtype.itemsize:
        raise _bad(f"input '{tensor.name}': raw_input_contents[{index}] is {len(raw)} bytes, but shape "
                   f"{list(tensor.shape)} of {tensor.datatype} needs {count * dtype.itemsize}")
    arr = np.frombuffer(raw, dtype, count).reshape(tuple(tensor.shape))
    check_pixels(arr, tensor.name)
    return arr


def parse_model_infer(request: Any, max_batch: int,
                      available: tuple[str, ...] = tuple(OUTPUTS)) -> GRPCInferenceRequest:
    """The validated ModelInferRequest; ServiceError (400) says what is wrong and where."""
    raws = request.raw_input_contents
    if raws and len(raws) != len(request.inputs):
        raise _bad(f"raw_input_contents has {len(raws)} entries for {len(request.inputs)} inputs; give "
                   "one per input, in order, or none (typed contents)")
    check_inputs([t.name for t in request.inputs])
    tensor = request.inputs[0]
    shape = list(tensor.shape)
    check_shape(shape, max_batch)
    dtype = dtype_of(tensor.datatype)
    arr = _raw(tensor, dtype, raws[0], 0) if raws else _typed(tensor, dtype)
    parameters = parameters_dict(request.parameters)
    raw_out = parameters.get("binary_data_output", bool(raws))
    if not isinstance(raw_out, bool):
        raise _bad(f"request: parameters.binary_data_output must be true or false, got {raw_out!r}")
    outputs = chosen_outputs([(out.name, parameters_dict(out.parameters)) for out in request.outputs],
                             available, raw_out)
    images = arr.reshape(len(arr), PIXELS).astype(np.float32)
    return GRPCInferenceRequest(id=request.id or None, images=images, outputs=outputs, raw_outputs=raw_out)


def encode_model_infer(model_name: str, model_version: str, request: GRPCInferenceRequest,
                       values: dict[str, np.ndarray | None]) -> Any:
    """The ModelInferResponse with the requested outputs of `values` (output name -> array), raw
    or typed, and the request's id."""
    response = pb.ModelInferResponse(model_name=model_name, model_version=model_version,
                                     id=request.id or "")
    for name, _ in request.outputs:
        datatype, dtype = OUTPUTS[name]
        arr = np.ascontiguousarray(values[name], dtype=dtype)
        tensor = response.outputs.add(name=name, datatype=datatype, shape=arr.shape)
        if request.raw_outputs:
            response.raw_output_contents.append(arr.tobytes())
        else:
            getattr(tensor.contents, CONTENTS_FIELDS[datatype]).extend(arr.ravel().tolist())
    return response
