"""Flatten: (N, ...) -> (N, prod(...)) in C order, so an NHWC tensor flattens as (h, w, c).

    backward:  dL/dx = g reshaped to x's shape
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from neuralnet.layers.base import Array, Layer


class Flatten(Layer):
    kind: ClassVar[str] = "flatten"

    def __init__(self) -> None:
        super().__init__()
        self.shape: tuple[int, ...] | None = None

    def forward(self, x: Array, training: bool = False, keep: bool = False) -> Array:
        self.shape = x.shape if keep else None
        return x.reshape(len(x), -1)

    def backward(self, grad: Array, params: bool = True) -> Array:
        return grad.reshape(self._saved("shape"))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)
