"""Fully connected layer.

    forward:   y = x W + b                       x (N, in), W (in, out), b (out,)
    backward:  dL/dW = x^T g,  dL/db = sum_n g,  dL/dx = g W^T      with g = dL/dy
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from neuralnet.layers.base import Array, Layer, initial_params


class Dense(Layer):
    kind: ClassVar[str] = "dense"
    fields: ClassVar[tuple[str, ...]] = ("in_features", "out_features")

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.params = initial_params(self.param_shapes(self.spec()), in_features, rng)
        self.x: Array | None = None
        # Serving may ask for one row to be computed as two (see forward); training never does
        self.one_row_as_two = False

    def forward(self, x: Array, training: bool = False, keep: bool = False) -> Array:
        self.x = x if keep else None
        if len(x) == 1 and self.one_row_as_two and not keep:
            # One row goes to BLAS's matrix-vector path, which sums in another order than the
            # matrix-matrix one: computed as two rows, an image gets the same logits bit for bit
            # alone as in any batch (what batching requests together relies on). It costs a large
            # layer a second pass over its weights, so serving asks for it only where it batches.
            out = np.concatenate([x, x]) @ self.params["W"]
            out = out[:1]
        else:
            out = x @ self.params["W"]
        out += self.params["b"]
        return out

    def backward(self, grad: Array, params: bool = True) -> Array:
        if params:
            self.grads = {"W": self._saved("x").T @ grad, "b": grad.sum(axis=0)}
        return grad @ self.params["W"].T

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "in_features": self.in_features, "out_features": self.out_features}

    @classmethod
    def param_shapes(cls, spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        return {"W": (int(spec["in_features"]), int(spec["out_features"])), "b": (int(spec["out_features"]),)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Dense:
        return cls(int(spec["in_features"]), int(spec["out_features"]))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.out_features,)
