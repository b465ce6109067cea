"""Sequential networks: the two shipped architectures, and conversion to/from the artifact.

Inputs are normalised images, NHWC (N, 28, 28, 1). At export, each BatchNorm is folded into
the Dense/Conv2D before it:  W' = W * gamma / sqrt(var + eps),
b' = (b - mean) * gamma / sqrt(var + eps) + beta, so the artifact holds only the layer types
the service implements.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from service.artifact import Artifact, param_key
from training.layers import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
)

INPUT_SHAPE = (28, 28, 1)


class Sequential:
    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        first_conv = next((l for l in layers if isinstance(l, Conv2D)), None)
        if first_conv is not None and layers.index(first_conv) == 0:
            first_conv.needs_input_grad = False

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        for layer in self.layers:
            layer.training = training
            x = layer.forward(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def predict_logits(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        return np.concatenate(
            [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        )

    def parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(name, value, grad) for every parameter, after a backward pass."""
        return [
            (param_key(i, k), v, layer.grads[k])
            for i, layer in enumerate(self.layers)
            for k, v in layer.params.items()
        ]

    def state(self) -> dict[str, np.ndarray]:
        """A copy of all parameters and batch-norm statistics (for best-checkpoint keeping)."""
        out: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            for k, v in layer.params.items():
                out[param_key(i, k)] = v.copy()
            if isinstance(layer, BatchNorm):
                out[param_key(i, "running_mean")] = layer.running_mean.copy()
                out[param_key(i, "running_var")] = layer.running_var.copy()
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for i, layer in enumerate(self.layers):
            for k in layer.params:
                layer.params[k] = state[param_key(i, k)].copy()
            if isinstance(layer, BatchNorm):
                layer.running_mean = state[param_key(i, "running_mean")].copy()
                layer.running_var = state[param_key(i, "running_var")].copy()

    def num_parameters(self) -> int:
        return sum(v.size for layer in self.layers for v in layer.params.values())

    def export(self) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        """(architecture, arrays) for an artifact, with batch norms folded away."""
        arch: list[dict[str, Any]] = []
        arrays: dict[str, np.ndarray] = {}
        for layer in self.layers:
            if isinstance(layer, BatchNorm):
                prev = len(arch) - 1
                W, b = arrays[param_key(prev, "W")], arrays[param_key(prev, "b")]
                scale = layer.params["gamma"] / np.sqrt(layer.running_var + layer.eps)
                arrays[param_key(prev, "W")] = (W * scale).astype(np.float32)
                arrays[param_key(prev, "b")] = (
                    (b - layer.running_mean) * scale + layer.params["beta"]
                ).astype(np.float32)
                continue
            index = len(arch)
            arch.append(layer.spec())
            for k, v in layer.params.items():
                arrays[param_key(index, k)] = v.astype(np.float32)
        return arch, arrays


def build_mlp(rng: np.random.Generator, hidden: tuple[int, ...] = (512, 512), dropout: float = 0.2,
              batchnorm: bool = True) -> Sequential:
    layers: list[Layer] = [Flatten()]
    width = int(np.prod(INPUT_SHAPE))
    for h in hidden:
        layers.append(Dense(width, h, rng))
        if batchnorm:
            layers.append(BatchNorm(h))
        layers.append(ReLU())
        if dropout:
            layers.append(Dropout(dropout, rng))
        width = h
    layers.append(Dense(width, 10, rng))
    return Sequential(layers)


def build_cnn(rng: np.random.Generator, blocks: tuple[tuple[int, ...], ...] = ((32,), (64, 64)),
              hidden: int = 256, dropout: float = 0.3, batchnorm: bool = True) -> Sequential:
    """Blocks of 3x3 convs (+BN, ReLU), each block ending in a 2x2 max-pool; then Dense."""
    layers: list[Layer] = []
    shape: tuple[int, ...] = INPUT_SHAPE
    for block in blocks:
        for c_out in block:
            layers.append(Conv2D(shape[2], c_out, 3, rng, padding=1))
            if batchnorm:
                layers.append(BatchNorm(c_out))
            layers.append(ReLU())
            shape = (shape[0], shape[1], c_out)
        layers.append(MaxPool2D(2))
        shape = layers[-1].output_shape(shape)
    layers.append(Flatten())
    layers.append(Dense(int(np.prod(shape)), hidden, rng))
    if batchnorm:
        layers.append(BatchNorm(hidden))
    layers.append(ReLU())
    if dropout:
        layers.append(Dropout(dropout, rng))
    layers.append(Dense(hidden, 10, rng))
    return Sequential(layers)


def from_artifact(artifact: Artifact) -> Sequential:
    """Rebuild an inference network from an artifact's architecture and arrays."""
    rng = np.random.default_rng(0)
    layers: list[Layer] = []
    for i, spec in enumerate(artifact.metadata["architecture"]):
        kind = spec["type"]
        layer: Layer
        if kind == "dense":
            layer = Dense(spec["in_features"], spec["out_features"], rng)
        elif kind == "conv2d":
            layer = Conv2D(spec["in_channels"], spec["out_channels"], spec["kernel_size"], rng,
                           stride=spec["stride"], padding=spec["padding"])
        elif kind == "relu":
            layer = ReLU()
        elif kind == "maxpool2d":
            layer = MaxPool2D(spec["pool_size"])
        elif kind == "flatten":
            layer = Flatten()
        elif kind == "dropout":
            layer = Dropout(spec["rate"], rng)
        else:  # load_artifact already rejects unknown types
            raise ValueError(f"layer {i}: unknown type {kind!r}")
        for k in layer.params:
            layer.params[k] = artifact.arrays[param_key(i, k)].astype(np.float32)
        layers.append(layer)
    return Sequential(layers)
