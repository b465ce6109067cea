"""2-D max pooling over non-overlapping p x p windows (stride p) of NHWC tensors.

    forward:   y[n,i,j,c] = max_{u,v < p} x[n, p*i+u, p*j+v, c]; trailing rows/columns that do
               not fill a window are dropped
    backward:  dL/dx routes g to the window's maximum (the first one on ties), zero elsewhere
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from neuralnet.layers.base import Array, Layer


def max_pool(x: Array, k: int) -> Array:
    """Max over non-overlapping k x k windows of NHWC `x` (trailing rows/columns dropped)."""
    h, w = x.shape[1] // k * k, x.shape[2] // k * k
    out = x[:, 0:h:k, 0:w:k, :].copy()
    for u in range(k):  # k*k whole-tensor maxima, no loop over pixels
        for v in range(k):
            if u or v:
                np.maximum(out, x[:, u:h:k, v:w:k, :], out=out)
    return out


class MaxPool2D(Layer):
    kind: ClassVar[str] = "maxpool2d"
    fields: ClassVar[tuple[str, ...]] = ("pool_size",)

    def __init__(self, pool_size: int = 2) -> None:
        super().__init__()
        self.pool_size = pool_size
        self.x: Array | None = None
        self.out: Array | None = None

    def forward(self, x: Array, training: bool = False, keep: bool = False) -> Array:
        out = max_pool(x, self.pool_size)
        self.x, self.out = (x, out) if keep else (None, None)
        return out

    def backward(self, grad: Array, params: bool = True) -> Array:
        k = self.pool_size
        x, out = self._saved("x"), self._saved("out")
        h, w = x.shape[1] // k * k, x.shape[2] // k * k
        dx = np.zeros(x.shape, grad.dtype)
        unrouted = np.ones(out.shape, bool)  # ties: the first maximum takes the gradient
        for u in range(k):
            for v in range(k):
                hit = (x[:, u:h:k, v:w:k, :] == out) & unrouted
                unrouted &= ~hit
                dx[:, u:h:k, v:w:k, :] = grad * hit
        self.x = self.out = None
        return dx

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "pool_size": self.pool_size}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> MaxPool2D:
        return cls(int(spec["pool_size"]))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        h, w, c = input_shape
        return (h // self.pool_size, w // self.pool_size, c)
