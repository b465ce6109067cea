"""Inverted dropout.

    training:  y = x * m / (1 - p),  m ~ Bernoulli(1 - p) per element;  dL/dx = g * m / (1 - p)
    inference: y = x;                                                   dL/dx = g
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from neuralnet.layers.base import Array, Layer


class Dropout(Layer):
    kind: ClassVar[str] = "dropout"
    fields: ClassVar[tuple[str, ...]] = ("rate",)

    def __init__(self, rate: float, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate, self.rng = rate, rng
        self.scale: Array | None = None

    def forward(self, x: Array, training: bool = False, keep: bool = False) -> Array:
        self.scale = None
        if not training or self.rate == 0.0:
            return x
        if self.rng is None:
            raise RuntimeError("Dropout in training mode needs a random generator (rng)")
        keep_mask = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        scale = keep_mask.astype(x.dtype) / x.dtype.type(1.0 - self.rate)
        if keep:
            self.scale = scale
        return x * scale

    def backward(self, grad: Array, params: bool = True) -> Array:
        return grad if self.scale is None else grad * self.scale

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "rate": self.rate}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Dropout:
        return cls(float(spec["rate"]))
