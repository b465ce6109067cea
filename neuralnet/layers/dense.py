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
        # Serving may ask for one row to be computed as two (see forward), and as W^T x^T where
        # that gives the same bits (neuralnet/blas_rows.py); training never does
        self.one_row_as_two = False
        self.one_row_transposed = False
        self._w_t: tuple[Array, Array] | None = None  # (W, its contiguous transpose) once asked for

    def forward(self, x: Array, training: bool = False, keep: bool = False) -> Array:
        self.x = x if keep else None
        if len(x) == 1 and self.one_row_as_two and not keep:
            out = one_row_as_two(x, self.params["W"], self._transposed() if self.one_row_transposed else None)
        else:
            out = x @ self.params["W"]
        out += self.params["b"]
        return out

    def _transposed(self) -> Array:
        """W's transpose, contiguous: kept beside W for one-row products (one more copy of the
        layer's weights), made again if W was replaced."""
        w = self.params["W"]
        if self._w_t is None or self._w_t[0] is not w:
            self._w_t = (w, np.ascontiguousarray(w.T))
        return self._w_t[1]

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


def one_row_as_two(x: Array, w: Array, w_t: Array | None = None) -> Array:
    """x (1, in) @ w, with x's row computed as one of two. One row alone goes to BLAS's
    matrix-vector path, which sums in another order than the matrix-matrix one: as two rows an
    image gets the same logits bit for bit alone as in any batch (what batching requests together
    relies on). Given `w_t`, w's contiguous transpose, it is computed as w^T x^T: OpenBLAS packs a
    large w faster that way, and gives a large layer the same bits (neuralnet/blas_rows.py checks
    which form does, per layer shape)."""
    if w_t is None:
        return (np.concatenate([x, x]) @ w)[:1]
    return np.ascontiguousarray((w_t @ np.concatenate([x, x]).T)[:, :1].T)
