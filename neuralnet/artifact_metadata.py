"""What an artifact's metadata must say before any of its arrays is read: a model name and
version, an input normalisation of finite numbers, labels, and an architecture whose fields are
whole numbers in range and whose layers fit together from the input to one output per label.
From the architecture follow the parameter shapes, and so the most bytes the arrays may take: the
budget the reader holds the archive to (neuralnet/artifact_reader.py).

Every fault is an ArtifactError (a ValueError) whose message says which field and why.
"""

from __future__ import annotations

import math
import re
from typing import Any

from neuralnet.layers import ARTIFACT_LAYERS

MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MAX_LAYERS = 64
MAX_PARAMETERS = 16 * 1024 * 1024  # 64 MiB as float32; the shipped CNN has under a million
# whole-number layer fields: (least, most)
FIELD_RANGES = {"in_channels": (1, 4096), "out_channels": (1, 4096), "kernel_size": (1, 64),
                "stride": (1, 64), "padding": (0, 64), "pool_size": (1, 64),
                "in_features": (1, 1 << 24), "out_features": (1, 1 << 24)}


class ArtifactError(ValueError):
    """An artifact is missing, unreadable or inconsistent; the message names the file and why."""


def _whole(value: Any, where: str, least: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise ArtifactError(f"{where} must be a whole number from {least} to {most}, got {value!r}")
    return value


def _number(value: Any, where: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or (positive and value <= 0):
        kind = "a positive finite number" if positive else "a finite number"
        raise ArtifactError(f"{where} must be {kind}, got {value!r}")
    return float(value)


def check_identity(metadata: dict[str, Any]) -> None:
    name, version = metadata.get("model_name"), metadata.get("version")
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise ArtifactError(f"model_name must match {MODEL_NAME.pattern}, got {name!r}")
    _whole(version, "version", 1, 10**9)


def check_input(spec: Any) -> tuple[int, ...]:
    """The input normalisation is numbers, and its shape whole sizes; returns the shape."""
    if not isinstance(spec, dict):
        raise ArtifactError(f"input must be an object, got {spec!r}")
    _number(spec.get("mean"), "input.mean")
    _number(spec.get("std"), "input.std", positive=True)
    if "scale" in spec:
        _number(spec["scale"], "input.scale", positive=True)
    shape = spec.get("shape", [28, 28, 1])
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3:
        raise ArtifactError(f"input.shape must be a list of 1 to 3 sizes, got {shape!r}")
    dims = tuple(_whole(d, f"input.shape[{i}]", 1, 4096) for i, d in enumerate(shape))
    if math.prod(dims) > MAX_PARAMETERS:
        raise ArtifactError(f"input.shape {list(dims)} is too large")
    return dims


def check_labels(labels: Any) -> int:
    if not isinstance(labels, list) or not 2 <= len(labels) <= 1000 \
            or not all(isinstance(label, str) for label in labels):
        raise ArtifactError(f"labels must be a list of 2 to 1000 strings, got {str(labels)[:80]}")
    return len(labels)


def _layer_output(kind: str, spec: dict[str, Any], shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """The activation shape (without the batch) after this layer, or ArtifactError."""
    if kind == "conv2d":
        if len(shape) != 3 or shape[2] != spec["in_channels"]:
            raise ArtifactError(f"{where}: in_channels {spec['in_channels']} does not fit its input {shape}")
        k, s, p = spec["kernel_size"], spec["stride"], spec["padding"]
        side = [(d + 2 * p - k) // s + 1 for d in shape[:2]]
        if min(side) < 1:
            raise ArtifactError(f"{where}: kernel {k} does not fit its input {shape} with padding {p}")
        return (side[0], side[1], spec["out_channels"])
    if kind == "maxpool2d":
        if len(shape) != 3 or min(shape[:2]) < spec["pool_size"]:
            raise ArtifactError(f"{where}: pool {spec['pool_size']} does not fit its input {shape}")
        return (shape[0] // spec["pool_size"], shape[1] // spec["pool_size"], shape[2])
    if kind == "flatten":
        return (math.prod(shape),)
    if kind == "dense":
        if len(shape) != 1 or shape[0] != spec["in_features"]:
            raise ArtifactError(f"{where}: in_features {spec['in_features']} does not fit its input {shape}")
        return (spec["out_features"],)
    return shape  # relu, dropout


def expected_shapes(architecture: Any, input_shape: tuple[int, ...] = (28, 28, 1),
                    outputs: int | None = None) -> dict[str, tuple[int, ...]]:
    """Every parameter key the architecture needs (`layers.<i>.<name>`) and its shape, after the
    layers' fields and their fit are checked; `outputs`: how many the last layer must give."""
    if not isinstance(architecture, list) or not 1 <= len(architecture) <= MAX_LAYERS:
        raise ArtifactError(f"architecture must be a list of 1 to {MAX_LAYERS} layers")
    shapes: dict[str, tuple[int, ...]] = {}
    shape = input_shape
    for i, spec in enumerate(architecture):
        kind = spec.get("type") if isinstance(spec, dict) else None
        layer = ARTIFACT_LAYERS.get(kind) if isinstance(kind, str) else None
        if layer is None or not isinstance(spec, dict) or not isinstance(kind, str):
            raise ArtifactError(f"layer {i}: unknown layer type {kind!r}")
        where = f"layer {i} ({kind})"
        missing = [name for name in layer.fields if name not in spec]
        if missing:
            raise ArtifactError(f"{where}: missing field {missing[0]!r}")
        for name in layer.fields:
            if name in FIELD_RANGES:
                _whole(spec[name], f"{where}: {name}", *FIELD_RANGES[name])
        if "rate" in layer.fields and not 0 <= _number(spec["rate"], f"{where}: rate") < 1:
            raise ArtifactError(f"{where}: rate must be at least 0 and below 1, got {spec['rate']!r}")
        shape = _layer_output(kind, spec, shape, where)
        if math.prod(shape) > MAX_PARAMETERS:
            raise ArtifactError(f"{where}: its output {shape} is too large")
        for pname, pshape in layer.param_shapes(spec).items():
            shapes[f"layers.{i}.{pname}"] = tuple(int(d) for d in pshape)
    if len(shape) != 1 or (outputs is not None and shape[0] != outputs):
        raise ArtifactError(f"the last layer gives {shape}, not one output per label ({outputs})")
    if sum(math.prod(s) for s in shapes.values()) > MAX_PARAMETERS:
        raise ArtifactError(f"the architecture has more than {MAX_PARAMETERS} parameters")
    return shapes


def check_metadata(metadata: dict[str, Any], supported_formats: frozenset[int]) -> dict[str, tuple[int, ...]]:
    """Raise ArtifactError for metadata the service cannot use; the parameter shapes it implies."""
    fmt = metadata.get("format_version")
    if fmt not in supported_formats or isinstance(fmt, bool):
        raise ArtifactError(f"unknown format_version {fmt!r} (supported: {sorted(supported_formats)})")
    for field in ("model_name", "version", "architecture", "input", "labels"):
        if field not in metadata:
            raise ArtifactError(f"metadata has no {field!r}")
    check_identity(metadata)
    input_shape = check_input(metadata["input"])
    outputs = check_labels(metadata["labels"])
    return expected_shapes(metadata["architecture"], input_shape, outputs)
