"""The network's input, as every artifact records it (`metadata["input"]`):

    x = (pixels * scale - mean) / std        pixels raw 0-255, white digit on black; x float, NHWC

`normalise` is that formula, used by training (with the training split's mean and std) and by the
inference model (with the artifact's), so both sides feed a network the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

INPUT_SHAPE = (28, 28, 1)
PIXEL_SCALE = 1 / 255


def normalise(pixels: np.ndarray, mean: float, std: float, scale: float = PIXEL_SCALE,
              shape: tuple[int, ...] = INPUT_SHAPE, dtype: Any = np.float32) -> np.ndarray:
    """Raw pixels (N, 28, 28) or (N, 784), any numeric dtype -> normalised (N, 28, 28, 1) of `dtype`."""
    x = np.asarray(pixels, dtype=dtype).reshape(len(pixels), *shape)
    x = x * scale  # Python floats are cast to x's dtype, so float32 stays float32
    x -= mean
    x /= std
    return x


MNIST_CENTRE = 14.0  # where MNIST digits have their centre of mass (row and column; measured 14.0 +- 0.3)


def centred_by_mass(small: np.ndarray, side: int = INPUT_SHAPE[0]) -> np.ndarray:
    """(side, side) uint8 frame with `small` (at most side x side, 0-255, white on black) pasted so
    that its centre of mass sits at (MNIST_CENTRE, MNIST_CENTRE), as MNIST was made: an integer
    shift, clamped so the whole drawing stays inside; an empty drawing is pasted centred."""
    small = np.asarray(small, np.float64)
    total = float(small.sum())
    if total > 0:
        ys, xs = np.indices(small.shape)
        cy, cx = float((ys * small).sum()) / total, float((xs * small).sum()) / total
    else:
        cy, cx = (small.shape[0] - 1) / 2, (small.shape[1] - 1) / 2
    top = min(max(round(MNIST_CENTRE - cy), 0), side - small.shape[0])
    left = min(max(round(MNIST_CENTRE - cx), 0), side - small.shape[1])
    frame = np.zeros((side, side), np.float64)
    frame[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.rint(frame).astype(np.uint8)


MNIST_DIGIT_BOX = 20  # MNIST: the digit's longer side is 20 px, in a 28x28 frame


def ink_box(drawing: np.ndarray, threshold: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The drawing cropped to the bounding box of its pixels above `threshold` (there must be one),
    and the (width, height) that scales the box's longer side to MNIST_DIGIT_BOX, aspect kept."""
    inked = drawing > threshold
    rows = np.flatnonzero(inked.any(axis=1))
    cols = np.flatnonzero(inked.any(axis=0))
    crop = drawing[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    scale = MNIST_DIGIT_BOX / max(height, width)
    return crop, (max(1, round(width * scale)), max(1, round(height * scale)))


def light_on_dark(gray: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A grayscale picture as MNIST's light ink on a dark background: (the picture, inverted when
    its border is light, the background level (the border's median) and the ink's contrast, its
    peak above the background). `stretched` then maps the background to 0 and the peak to 255."""
    border = np.concatenate((gray[0], gray[-1], gray[:, 0], gray[:, -1]))
    background = float(np.median(border))
    if background > 127.5:  # dark ink on light paper
        gray, background = 255.0 - gray, 255.0 - background
    return gray, background, float(gray.max()) - background


def stretched(gray: np.ndarray, background: float, contrast: float) -> np.ndarray:
    """(gray - background) scaled so that the ink's peak is 255, clipped to 0-255."""
    result: np.ndarray = np.clip((gray - background) * (255.0 / contrast), 0.0, 255.0)
    return result
