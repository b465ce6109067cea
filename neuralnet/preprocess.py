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
