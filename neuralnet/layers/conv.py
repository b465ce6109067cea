"""2-D convolution (cross-correlation, as in every DL framework) on NHWC tensors, via im2col.

    forward:   y[n,i,j,o] = b[o] + sum_{u,v,c} xp[n, s*i+u, s*j+v, c] W[u,v,c,o]
               xp = x zero-padded by p; computed as one matrix product of the patch matrix
               (im2col, built from strided views) with W reshaped to (k*k*C_in, C_out)
    backward:  dL/dW = cols^T g,  dL/db = sum g,
               dL/dx = g W^T scattered back over the kernel offsets; for stride 1 that is a full
               convolution of g with the flipped kernel (one im2col and one matrix product)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from neuralnet.layers.base import Array, Layer, initial_params


def im2col(xp: Array, k: int, stride: int) -> Array:
    """(N, H, W, C) padded input -> (N, Ho, Wo, k, k, C) patches, as one contiguous copy."""
    windows = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # (N, Ho, Wo, C, k, k)
    return np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3))


class Conv2D(Layer):
    kind: ClassVar[str] = "conv2d"
    fields: ClassVar[tuple[str, ...]] = ("in_channels", "out_channels", "kernel_size", "stride", "padding")

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 rng: np.random.Generator | None = None, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in = kernel_size * kernel_size * in_channels
        self.params = initial_params(self.param_shapes(self.spec()), fan_in, rng)
        self.needs_input_grad = True  # a network's first layer can skip computing dL/dx
        self.cols: Array | None = None

    def forward(self, x: Array, training: bool = False, keep: bool = False) -> Array:
        p, k = self.padding, self.kernel_size
        xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))) if p else x
        cols = im2col(xp, k, self.stride)
        self.xp_shape, self.cols_shape = xp.shape, cols.shape
        flat = cols.reshape(-1, k * k * self.in_channels)
        self.cols = flat if keep else None
        out = flat @ self.params["W"].reshape(-1, self.out_channels)
        out += self.params["b"]
        return out.reshape(*cols.shape[:3], self.out_channels)

    def backward(self, grad: Array, params: bool = True) -> Array:
        k, s, p = self.kernel_size, self.stride, self.padding
        g2 = grad.reshape(-1, self.out_channels)
        if params:
            self.grads = {"W": (self._saved("cols").T @ g2).reshape(self.params["W"].shape),
                          "b": g2.sum(axis=0)}
        self.cols = None  # free the largest buffer early
        if not self.needs_input_grad:
            return np.empty(0, grad.dtype)
        W = self.params["W"]
        if s == 1 and p < k:
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
        return {"type": self.kind, "in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    @classmethod
    def param_shapes(cls, spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        k = int(spec["kernel_size"])
        return {"W": (k, k, int(spec["in_channels"]), int(spec["out_channels"])),
                "b": (int(spec["out_channels"]),)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Conv2D:
        return cls(int(spec["in_channels"]), int(spec["out_channels"]), int(spec["kernel_size"]),
                   stride=int(spec["stride"]), padding=int(spec["padding"]))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        h, w, _ = input_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        return ((h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1, self.out_channels)
