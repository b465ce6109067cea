"""The Open Inference Protocol's outputs for this service's models: which there are, which a request
asks for (JSON or binary), and the response body that carries them."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from service.codecs.v2.errors import bad_input as _bad
from service.codecs.v2.schemas import InferenceRequestBody

OUTPUTS: dict[str, tuple[str, np.dtype[Any]]] = {
    "probabilities": ("FP32", np.dtype("<f4")),  # [N, 10]
    "digit": ("INT64", np.dtype("<i8")),  # [N]
    "is_digit": ("BOOL", np.dtype("?")),  # [N]; only models with a "not a digit" decision
}
PLAIN_OUTPUTS = ("probabilities", "digit")  # what a model without that decision gives
Requested = tuple[tuple[str, bool], ...]  # (output name, as binary), in response order


def model_outputs(has_decision: bool) -> tuple[str, ...]:
    return tuple(OUTPUTS) if has_decision else PLAIN_OUTPUTS


def outputs_metadata(has_decision: bool) -> list[dict[str, Any]]:
    """The model metadata's `outputs`: name, datatype and shape (-1: any batch size) of each."""
    shapes = {"probabilities": [-1, 10], "digit": [-1], "is_digit": [-1]}
    return [{"name": name, "datatype": OUTPUTS[name][0], "shape": shapes[name]}
            for name in model_outputs(has_decision)]


def _flag(parameters: dict[str, Any], key: str, where: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"{where}: parameters.{key} must be true or false, got {value!r}")
    return value


def requested_outputs(body: InferenceRequestBody, available: tuple[str, ...]) -> Requested:
    default = bool(_flag(body.parameters, "binary_data_output", "request"))
    return chosen_outputs([(out.name, out.parameters) for out in body.outputs or []], available, default)


def chosen_outputs(requested: list[tuple[str, dict[str, Any]]], available: tuple[str, ...],
                   default: bool) -> Requested:
    """(name, as binary) of each output asked for by (name, parameters), in order (any protocol);
    every one of the model's outputs when none is. `default`: binary unless a parameter says."""
    if not requested:
        return tuple((name, default) for name in available)
    chosen: list[tuple[str, bool]] = []
    for out_name, parameters in requested:
        if out_name not in available:
            why = (" (this version has no 'not a digit' decision: it was trained before them)"
                   if out_name in OUTPUTS else "")
            raise _bad(f"unknown output {out_name!r}{why}; the model's outputs are "
                       + ", ".join(f"'{n}'" for n in available))
        if out_name in (name for name, _ in chosen):
            raise _bad(f"output '{out_name}' is requested twice")
        if parameters.get("classification"):
            raise _bad(f"output '{out_name}': the classification extension is not supported; "
                       "ask for 'digit' and 'probabilities'")
        binary = _flag(parameters, "binary_data", f"output '{out_name}'")
        chosen.append((out_name, default if binary is None else binary))
    return tuple(chosen)


def encode_response(model_name: str, model_version: str, request_id: str | None, requested: Requested,
                    values: dict[str, np.ndarray | None]) -> tuple[bytes, int | None]:
    """(body, JSON length if binary tensors follow it, else None) for an inference response with
    the requested outputs of `values` (output name -> array)."""
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in requested:
        datatype, dtype = OUTPUTS[name]
        arr = np.ascontiguousarray(values[name], dtype=dtype)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(arr.shape)}
        if binary:
            blobs.append(arr.tobytes())
            tensor["parameters"] = {"binary_data_size": arr.nbytes}
        else:
            tensor["data"] = arr.ravel()  # flat, row-major, as the spec allows
        outputs.append(tensor)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        response["id"] = request_id
    response["outputs"] = outputs
    header = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    return (header + b"".join(blobs), len(header)) if blobs else (header, None)
