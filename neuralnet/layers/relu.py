"""Rectified linear unit.

    forward:   y = max(x, 0)
    backward:  dL/dx = g * [x > 0]
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from neuralnet.layers.base import Array, Layer


class ReLU(Layer):
    kind: ClassVar[str] = "relu"

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace  # overwrite the input (when nothing else holds it: inference)
        self.mask: Array | None = None

    def forward(self, x: Array, training: bool = False, keep: bool = False) -> Array:
        if keep:
            self.mask = x > 0
            return x * self.mask
        self.mask = None
        return np.maximum(x, 0, out=x) if self.inplace else np.maximum(x, 0)

    def backward(self, grad: Array, params: bool = True) -> Array:
        return grad * self._saved("mask")
