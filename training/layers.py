"""Layers with hand-written forward and backward passes. Images are NHWC arrays.

Each layer maps x -> y in `forward` and, given dL/dy, returns dL/dx from `backward`, storing
dL/dparam in `self.grads` (same keys as `self.params`).

- Dense:      y = x W + b,               dW = x^T g,  db = sum_n g,  dx = g W^T
- ReLU:       y = max(x, 0),             dx = g * [x > 0]
- Dropout:    y = x * m / (1 - p), m ~ Bernoulli(1 - p) in training, identity otherwise
- Conv2D:     y[n,i,j,o] = b[o] + sum_{u,v,c} xpad[n, s*i+u, s*j+v, c] W[u,v,c,o]; computed as
              one matrix product of the im2col matrix (built from strided views) with W
              reshaped to (k*k*C_in, C_out); dx scatters g W^T back over the kernel offsets.
- MaxPool2D:  y = max over non-overlapping k x k windows; dx routes g to each window's argmax
- BatchNorm:  y = gamma (x - mu) / sqrt(var + eps) + beta over all but the channel axis;
              running statistics are used at inference and can be folded into the layer before.
- Flatten:    (N, ...) -> (N, prod(...)), C-order (so NHWC flattens as h, w, c).

He initialisation (std = sqrt(2 / fan_in)) for Dense and Conv2D weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from service.runtime import im2col, max_pool

Array = np.ndarray


class Layer:
    """Base class: no parameters, identity spec hooks."""

    kind = "layer"

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.training = True

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, grad: Array) -> Array:
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """The layer's entry in the artifact's architecture list."""
        return {"type": self.kind}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def astype(self, dtype: Any) -> None:
        self.params = {k: v.astype(dtype) for k, v in self.params.items()}


def he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> Array:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


class Dense(Layer):
    kind = "dense"

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.params = {
            "W": he_normal(rng, (in_features, out_features), in_features),
            "b": np.zeros(out_features, np.float32),
        }

    def forward(self, x: Array) -> Array:
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad: Array) -> Array:
        self.grads = {"W": self.x.T @ grad, "b": grad.sum(axis=0)}
        return grad @ self.params["W"].T

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "in_features": self.in_features, "out_features": self.out_features}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.out_features,)


class ReLU(Layer):
    kind = "relu"

    def forward(self, x: Array) -> Array:
        self.mask = x > 0
        return x * self.mask

    def backward(self, grad: Array) -> Array:
        return grad * self.mask


class Dropout(Layer):
    kind = "dropout"

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate, self.rng = rate, rng

    def forward(self, x: Array) -> Array:
        if not self.training or self.rate == 0.0:
            self.scale = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self.scale = keep.astype(x.dtype) / x.dtype.type(1.0 - self.rate)
        return x * self.scale

    def backward(self, grad: Array) -> Array:
        return grad if self.scale is None else grad * self.scale

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "rate": self.rate}


class Flatten(Layer):
    kind = "flatten"

    def forward(self, x: Array) -> Array:
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad: Array) -> Array:
        return grad.reshape(self.shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)


class Conv2D(Layer):
    kind = "conv2d"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        rng: np.random.Generator,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in = kernel_size * kernel_size * in_channels
        self.params = {
            "W": he_normal(rng, (kernel_size, kernel_size, in_channels, out_channels), fan_in),
            "b": np.zeros(out_channels, np.float32),
        }
        self.needs_input_grad = True  # the first layer can skip computing dL/dx

    def forward(self, x: Array) -> Array:
        p, k = self.padding, self.kernel_size
        xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))) if p else x
        self.xp_shape = xp.shape
        cols = im2col(xp, k, self.stride)
        self.cols_shape = cols.shape
        self.cols = cols.reshape(-1, k * k * self.in_channels)
        out = self.cols @ self.params["W"].reshape(-1, self.out_channels) + self.params["b"]
        return out.reshape(*cols.shape[:3], self.out_channels)

    def backward(self, grad: Array) -> Array:
        k, s, p = self.kernel_size, self.stride, self.padding
        g2 = grad.reshape(-1, self.out_channels)
        self.grads = {
            "W": (self.cols.T @ g2).reshape(self.params["W"].shape),
            "b": g2.sum(axis=0),
        }
        self.cols = None  # type: ignore[assignment]  # free the largest buffer early
        if not self.needs_input_grad:
            return np.empty(0, grad.dtype)
        W = self.params["W"]
        if s == 1 and p < k:
            # dL/dx is a full convolution of the gradient with the flipped kernel: one im2col
            # and one matrix product, much faster than scattering k*k strided slices.
            q = k - 1 - p
            gp = np.pad(grad, ((0, 0), (q, q), (q, q), (0, 0)))
            w_flip = W[::-1, ::-1].transpose(0, 1, 3, 2).reshape(-1, self.in_channels)
            gcols = im2col(gp, k, 1)
            dx = gcols.reshape(-1, k * k * self.out_channels) @ w_flip
            return dx.reshape(*gcols.shape[:3], self.in_channels)
        dcols = (g2 @ W.reshape(-1, self.out_channels).T).reshape(self.cols_shape)
        dxp = np.zeros(self.xp_shape, grad.dtype)
        ho, wo = self.cols_shape[1:3]
        for u in range(k):  # loop over kernel offsets (k*k), never over pixels
            for v in range(k):
                dxp[:, u : u + s * ho : s, v : v + s * wo : s, :] += dcols[:, :, :, u, v, :]
        return dxp[:, p : dxp.shape[1] - p, p : dxp.shape[2] - p, :] if p else dxp

    def spec(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        h, w, _ = input_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        return ((h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1, self.out_channels)


class MaxPool2D(Layer):
    kind = "maxpool2d"

    def __init__(self, pool_size: int = 2) -> None:
        super().__init__()
        self.pool_size = pool_size

    def forward(self, x: Array) -> Array:
        self.x, self.in_shape = x, x.shape
        self.out = max_pool(x, self.pool_size)
        return self.out

    def backward(self, grad: Array) -> Array:
        k = self.pool_size
        h, w = self.in_shape[1] // k * k, self.in_shape[2] // k * k
        dx = np.zeros(self.in_shape, grad.dtype)
        unrouted = np.ones(self.out.shape, bool)  # ties: the first maximum takes the gradient
        for u in range(k):
            for v in range(k):
                hit = (self.x[:, u:h:k, v:w:k, :] == self.out) & unrouted
                unrouted &= ~hit
                dx[:, u:h:k, v:w:k, :] = grad * hit
        self.x = self.out = None  # type: ignore[assignment]
        return dx

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "pool_size": self.pool_size}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        h, w, c = input_shape
        return (h // self.pool_size, w // self.pool_size, c)


class BatchNorm(Layer):
    """Batch normalisation over every axis but the last (channels/features).

    Training-time only in this project: `fold_batchnorm` merges it into the Dense or Conv2D
    before it when an artifact is written, so the service never sees it.
    """

    kind = "batchnorm"

    def __init__(self, features: int, momentum: float = 0.9, eps: float = 1e-5) -> None:
        super().__init__()
        self.features, self.momentum, self.eps = features, momentum, eps
        self.params = {"gamma": np.ones(features, np.float32), "beta": np.zeros(features, np.float32)}
        self.running_mean = np.zeros(features, np.float32)
        self.running_var = np.ones(features, np.float32)

    def forward(self, x: Array) -> Array:
        if not self.training:
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            scale = (self.params["gamma"] * inv_std).astype(x.dtype)
            return x * scale + (self.params["beta"] - self.running_mean * scale).astype(x.dtype)
        x2 = x.reshape(-1, x.shape[-1])
        ones = np.full(len(x2), 1.0 / len(x2), x.dtype)  # BLAS reductions: much faster than .mean
        mean = ones @ x2
        centered = x - mean
        c2 = centered.reshape(-1, x.shape[-1])
        var = ones @ (c2 * c2)
        m = self.momentum
        self.running_mean = (m * self.running_mean + (1 - m) * mean).astype(np.float32)
        self.running_var = (m * self.running_var + (1 - m) * var).astype(np.float32)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = centered * self.inv_std
        return self.x_hat * self.params["gamma"] + self.params["beta"]

    def backward(self, grad: Array) -> Array:
        g2 = grad.reshape(-1, grad.shape[-1])
        count = len(g2)
        ones = np.ones(count, grad.dtype)
        dbeta = ones @ g2
        dgamma = ones @ (g2 * self.x_hat.reshape(g2.shape))
        self.grads = {"gamma": dgamma, "beta": dbeta}
        # dx = gamma/sigma * (g - mean(g) - x_hat * mean(g * x_hat))
        coef = self.params["gamma"] * self.inv_std
        return coef * (grad - dbeta / count - self.x_hat * (dgamma / count))

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, "features": self.features}

    def astype(self, dtype: Any) -> None:
        super().astype(dtype)
        self.running_mean = self.running_mean.astype(dtype)
        self.running_var = self.running_var.astype(dtype)
