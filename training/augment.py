"""On-the-fly data augmentation: small random affine transforms, in NumPy, per batch.

Each image gets a random rotation theta, scale s and shift (tx, ty). For every output pixel
p (relative to the image centre c) we sample the input at  A^-1 (p - c - t) + c  with
A = s R(theta), using bilinear interpolation and zero (black) outside the image. All images
of a batch are warped at once with fancy indexing; there is no loop over pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AffineConfig:
    max_rotation_deg: float = 10.0
    max_scale_delta: float = 0.1  # scale drawn from [1 - d, 1 + d]
    max_shift_px: float = 2.0

    def as_dict(self) -> dict[str, float]:
        return {"rotation_deg": self.max_rotation_deg, "scale_delta": self.max_scale_delta,
                "shift_px": self.max_shift_px}


def random_affine(images: np.ndarray, rng: np.random.Generator, cfg: AffineConfig) -> np.ndarray:
    """Warp a batch (N, H, W) of float images with independent random affine transforms."""
    n, h, w = images.shape
    theta = np.deg2rad(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg, n))
    scale = rng.uniform(1 - cfg.max_scale_delta, 1 + cfg.max_scale_delta, n)
    shift = rng.uniform(-cfg.max_shift_px, cfg.max_shift_px, (n, 2))
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale  # inverse of s R(theta)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.mgrid[0:h, 0:w]
    dy = yy.reshape(1, -1) - cy - shift[:, :1]
    dx = xx.reshape(1, -1) - cx - shift[:, 1:]
    src_y = cos[:, None] * dy - sin[:, None] * dx + cy
    src_x = sin[:, None] * dy + cos[:, None] * dx + cx
    return bilinear_sample(images, src_y, src_x).reshape(n, h, w)


def bilinear_sample(images: np.ndarray, src_y: np.ndarray, src_x: np.ndarray) -> np.ndarray:
    """Sample images (N, H, W) at float coordinates (N, P); zero outside the image.

    The images get a one-pixel zero border and coordinates are clipped into it, so the four
    neighbours of every sample are plain gathers with no bounds masks.
    """
    n, h, w = images.shape
    padded = np.zeros((n, h + 3, w + 3), np.float32)  # border of 1 before, 2 after
    padded[:, 1 : h + 1, 1 : w + 1] = images
    src_y = np.clip(src_y, -1.0, h)
    src_x = np.clip(src_x, -1.0, w)
    y0 = np.floor(src_y)
    x0 = np.floor(src_x)
    fy = (src_y - y0).astype(np.float32)
    fx = (src_x - x0).astype(np.float32)
    stride = w + 3
    idx = ((y0.astype(np.int32) + 1) * stride + (x0.astype(np.int32) + 1)
           + (np.arange(n, dtype=np.int32) * ((h + 3) * stride))[:, None])
    flat = padded.reshape(-1)
    top = flat[idx] * (1 - fx) + flat[idx + 1] * fx
    bottom = flat[idx + stride] * (1 - fx) + flat[idx + stride + 1] * fx
    return top * (1 - fy) + bottom * fy
