"""Forward-only NumPy runtime for artifacts (docs/artifact-format.md); no training code.

Weights are converted once, at load, to contiguous float32 arrays in the shape each operation
wants (conv kernels as (k*k*C_in, C_out) matrices), so a prediction is only matrix products and
element-wise operations on the whole batch:

    x = (pixels * scale - mean) / std          (N, 28, 28, 1), NHWC
    conv2d:    im2col(pad(x)) @ W + b           (strided views, one copy)
    maxpool2d: max over the p*p strided slices
    dense:     x @ W + b;   relu: max(x, 0);   flatten: reshape;   dropout: identity
    probabilities = softmax(logits)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from service.artifact import Artifact

Op = Callable[[np.ndarray], np.ndarray]

# Images per forward pass of a network with conv layers (larger batches run in chunks): an im2col
# copy is ~0.5 MB per image, so 1024 at once would hold ~0.6 GB; 64 at a time is also the fastest
# here (the buffers stay in cache). Dense networks need a few KB per image and are not chunked.
CONV_CHUNK_IMAGES = 64


def im2col(xp: np.ndarray, k: int, stride: int) -> np.ndarray:
    """(N, H, W, C) padded input -> (N, Ho, Wo, k, k, C) patches, as one contiguous copy."""
    windows = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # (N, Ho, Wo, C, k, k)
    return np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3))


def max_pool(x: np.ndarray, k: int) -> np.ndarray:
    """Max over non-overlapping k x k windows of NHWC `x` (trailing rows/columns dropped)."""
    h, w = x.shape[1] // k * k, x.shape[2] // k * k
    out = x[:, 0:h:k, 0:w:k, :].copy()
    for u in range(k):  # k*k whole-tensor maxima, no loop over pixels
        for v in range(k):
            if u or v:
                np.maximum(out, x[:, u:h:k, v:w:k, :], out=out)
    return out


def _conv2d(spec: dict[str, Any], W: np.ndarray, b: np.ndarray) -> Op:
    k, s, p = spec["kernel_size"], spec["stride"], spec["padding"]
    w2 = np.ascontiguousarray(W.reshape(-1, spec["out_channels"]), dtype=np.float32)
    bias = np.ascontiguousarray(b, dtype=np.float32)

    def conv(x: np.ndarray) -> np.ndarray:
        if p:
            x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        cols = im2col(x, k, s)
        out = cols.reshape(-1, w2.shape[0]) @ w2
        out += bias
        return out.reshape(*cols.shape[:3], w2.shape[1])

    return conv


def _maxpool2d(spec: dict[str, Any]) -> Op:
    k = spec["pool_size"]

    def pool(x: np.ndarray) -> np.ndarray:
        return max_pool(x, k)

    return pool


def _dense(W: np.ndarray, b: np.ndarray) -> Op:
    w = np.ascontiguousarray(W, dtype=np.float32)
    bias = np.ascontiguousarray(b, dtype=np.float32)

    def dense(x: np.ndarray) -> np.ndarray:
        out = x @ w
        out += bias
        return out

    return dense


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)  # the previous op's output is ours to reuse


def _flatten(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


@dataclass(frozen=True)
class InferenceModel:
    """An artifact's network, ready to run: `predict_proba(pixels)` -> (N, 10) float32."""

    name: str
    version: int
    labels: tuple[str, ...]
    ops: tuple[Op, ...]
    scale: np.float32
    mean: np.float32
    std: np.float32
    input_shape: tuple[int, int, int]
    chunk_images: int | None  # None: the whole batch in one pass

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> InferenceModel:
        ops: list[Op] = []
        for i, spec in enumerate(artifact.metadata["architecture"]):
            kind = spec["type"]
            params = artifact.layer_params(i)
            if kind == "conv2d":
                ops.append(_conv2d(spec, params["W"], params["b"]))
            elif kind == "dense":
                ops.append(_dense(params["W"], params["b"]))
            elif kind == "maxpool2d":
                ops.append(_maxpool2d(spec))
            elif kind == "relu":
                ops.append(_relu)
            elif kind == "flatten":
                ops.append(_flatten)
            elif kind == "dropout":
                ops.append(_identity)
            else:  # load_artifact has already rejected unknown types
                raise ValueError(f"layer {i}: unsupported type {kind!r}")
        spec_in = artifact.metadata["input"]
        shape = tuple(int(d) for d in spec_in.get("shape", (28, 28, 1)))
        return cls(
            name=artifact.name,
            version=artifact.version,
            labels=tuple(artifact.metadata["labels"]),
            ops=tuple(ops),
            scale=np.float32(spec_in.get("scale", 1 / 255)),
            mean=np.float32(spec_in["mean"]),
            std=np.float32(spec_in["std"]),
            input_shape=(shape[0], shape[1], shape[2]),
            chunk_images=CONV_CHUNK_IMAGES if any(
                spec["type"] == "conv2d" for spec in artifact.metadata["architecture"]) else None,
        )

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """Raw 0-255 pixels (N, 28, 28) or (N, 784) -> normalised float32 NHWC."""
        x = np.asarray(pixels, dtype=np.float32).reshape(len(pixels), *self.input_shape)
        x = x * self.scale
        x -= self.mean
        x /= self.std
        return x

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        x = self.preprocess(pixels)
        for op in self.ops:
            x = op(x)
        return x

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10), float32, rows summing to 1.

        Runs at most `chunk_images` images at a time (see CONV_CHUNK_IMAGES).
        """
        n = self.chunk_images
        if n and len(pixels) > n:
            return np.concatenate([self.predict_proba(pixels[i:i + n]) for i in range(0, len(pixels), n)])
        z = self.logits(pixels)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z
