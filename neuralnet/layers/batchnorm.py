"""Batch normalisation over every axis but the last (channels or features).

    training:  mu, var over the batch;  x_hat = (x - mu) / sqrt(var + eps);  y = gamma x_hat + beta;
               running statistics move towards mu, var with `momentum`
               dL/dx = gamma / sigma * (g - mean(g) - x_hat * mean(g * x_hat))
    inference: the running statistics instead of the batch's: y = gamma (x - mean) / sqrt(var + eps) + beta
    both:      dL/dgamma = sum g * x_hat,  dL/dbeta = sum g

With `stats_rows = n` the statistics come from the batch's first n rows only (the digits of an
outlier-exposure batch, training/outlier_exposure.py) and normalise every row. The running
statistics, which inference uses, are then the digits' own, as training normalised them; mixed
statistics would move with each batch's outliers and leave inference normalising digits unlike
training did. Only the first n rows' x_hat depend on mu and var:
               dL/dx = gamma / sigma * (g - [row < n] (sum(g) + x_hat * sum(g * x_hat)) / m)
               m = the number of values the statistics were taken over (n rows)

Training-time only in this project: `Sequential.export` folds it into the Dense or Conv2D before it,
so no artifact holds it and the artifact layer table does not list it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from neuralnet.layers.base import Array, Layer


class BatchNorm(Layer):
    kind: ClassVar[str] = "batchnorm"

    def __init__(self, features: int, momentum: float = 0.9, eps: float = 1e-5) -> None:
        super().__init__()
        self.features, self.momentum, self.eps = features, momentum, eps
        self.params = {"gamma": np.ones(features, np.float32), "beta": np.zeros(features, np.float32)}
        self.running_mean = np.zeros(features, np.float32)
        self.running_var = np.ones(features, np.float32)
        self.x_hat: Array | None = None
        self.inv_std: Array | None = None
        self.batch_stats = False  # whether the kept x_hat was normalised with batch statistics
        self.stats_rows: int | None = None  # training: statistics from the first rows only (None: all)
        self.kept_rows: int | None = None  # the stats_rows the kept x_hat was normalised with

    def forward(self, x: Array, training: bool = False, keep: bool = False) -> Array:
        if not training:
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            if keep:
                self.x_hat, self.inv_std, self.batch_stats = (x - self.running_mean) * inv_std, inv_std, False
            scale = (self.params["gamma"] * inv_std).astype(x.dtype)
            return x * scale + (self.params["beta"] - self.running_mean * scale).astype(x.dtype)
        rows = self.stats_rows if self.stats_rows is not None and self.stats_rows < len(x) else None
        x2 = (x if rows is None else x[:rows]).reshape(-1, x.shape[-1])
        ones = np.full(len(x2), 1.0 / len(x2), x.dtype)  # BLAS reductions: much faster than .mean
        mean = ones @ x2
        centered = x - mean
        c2 = (centered if rows is None else centered[:rows]).reshape(-1, x.shape[-1])
        var = ones @ (c2 * c2)
        m = self.momentum
        self.running_mean = (m * self.running_mean + (1 - m) * mean).astype(np.float32)
        self.running_var = (m * self.running_var + (1 - m) * var).astype(np.float32)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = centered * inv_std
        if keep:
            self.x_hat, self.inv_std, self.batch_stats, self.kept_rows = x_hat, inv_std, True, rows
        return x_hat * self.params["gamma"] + self.params["beta"]

    def backward(self, grad: Array, params: bool = True) -> Array:
        x_hat, inv_std = self._saved("x_hat"), self._saved("inv_std")
        g2 = grad.reshape(-1, grad.shape[-1])
        count = len(g2)
        ones = np.ones(count, grad.dtype)
        dbeta = ones @ g2
        dgamma = ones @ (g2 * x_hat.reshape(g2.shape))
        if params:
            self.grads = {"gamma": dgamma, "beta": dbeta}
        coef = self.params["gamma"] * inv_std
        if not self.batch_stats:  # fixed statistics: an affine map of x
            return grad * coef
        rows = self.kept_rows
        if rows is None:
            return coef * (grad - dbeta / count - x_hat * (dgamma / count))
        m = count * rows // len(grad)  # values per feature in the statistics' rows
        out = grad * coef
        out[:rows] = coef * (grad[:rows] - dbeta / m - x_hat[:rows] * (dgamma / m))
        return out

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "features": self.features}

    @classmethod
    def param_shapes(cls, spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        return {"gamma": (int(spec["features"]),), "beta": (int(spec["features"]),)}

    def astype(self, dtype: Any) -> None:
        super().astype(dtype)
        self.running_mean = self.running_mean.astype(dtype)
        self.running_var = self.running_var.astype(dtype)
