"""A sequential network: the layers in order, their forward and backward passes, its parameters,
and conversion to and from the artifact format.

    forward:   x_{i+1} = layer_i(x_i)
    backward:  g_i = layer_i.backward(g_{i+1}),  starting from g = dL/dlogits

At export each BatchNorm is folded into the Dense/Conv2D before it, using its running statistics:
    W' = W * gamma / sqrt(var + eps),   b' = (b - mean) * gamma / sqrt(var + eps) + beta,
so an artifact holds only the layer types in `ARTIFACT_LAYERS`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuralnet.artifact import Artifact, param_key
from neuralnet.layers import ARTIFACT_LAYERS, BatchNorm, Conv2D, Layer


class Sequential:
    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        if layers and isinstance(layers[0], Conv2D):
            layers[0].needs_input_grad = False  # nothing before it needs dL/dx (training)

    @classmethod
    def from_artifact(cls, artifact: Artifact, dtype: Any = np.float32) -> Sequential:
        """The artifact's network, its parameters as contiguous arrays of `dtype`."""
        layers: list[Layer] = []
        for i, spec in enumerate(artifact.metadata["architecture"]):
            layer = ARTIFACT_LAYERS[spec["type"]].from_spec(spec)  # load_artifact checked the types
            layer.params = {k: np.ascontiguousarray(artifact.arrays[param_key(i, k)], dtype=dtype)
                            for k in layer.params}
            layers.append(layer)
        return cls(layers)

    def forward(self, x: np.ndarray, training: bool = False, keep: bool | None = None) -> np.ndarray:
        """The network's output. `keep` (default: as `training`) stores what `backward` needs."""
        keep = training if keep is None else keep
        for layer in self.layers:
            x = layer.forward(x, training=training, keep=keep)
        return x

    def backward(self, grad: np.ndarray, params: bool = True) -> np.ndarray:
        """dL/dinput from dL/doutput after a `forward(..., keep=True)`; parameter gradients too."""
        for layer in reversed(self.layers):
            grad = layer.backward(grad, params=params)
        return grad

    def predict_logits(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Inference-mode output for normalised inputs, `batch_size` at a time."""
        return np.concatenate([self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def parameters(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(name, value, grad) for every parameter, after a backward pass."""
        return [(param_key(i, k), v, layer.grads[k])
                for i, layer in enumerate(self.layers) for k, v in layer.params.items()]

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
                arrays[param_key(prev, "b")] = ((b - layer.running_mean) * scale
                                                + layer.params["beta"]).astype(np.float32)
                continue
            index = len(arch)
            arch.append(layer.spec())
            for k, v in layer.params.items():
                arrays[param_key(index, k)] = v.astype(np.float32)
        return arch, arrays
