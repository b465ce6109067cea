"""What every codec hands the model: images of SIDE x SIDE = PIXELS raw grayscale values, 0-255.

`first_bad_pixel` is the one check that pixel values are finite numbers within 0-255; it says
which element is not, and each codec words the error in its protocol's terms (a /v1 row and
column, a v2 tensor element).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDE = 28
PIXELS = SIDE * SIDE
MIN_VALUE, MAX_VALUE = 0, 255


@dataclass(frozen=True)
class BadPixel:
    """The first element (in row-major order) that is NaN, infinite or outside 0-255."""

    index: tuple[int, ...]  # its index in the array checked, one entry per dimension
    value: float
    finite: bool


def first_bad_pixel(pixels: np.ndarray) -> BadPixel | None:
    """None if every value of `pixels` (any shape, any numeric dtype) is finite and within 0-255."""
    if pixels.size == 0:
        return None
    if pixels.min() >= MIN_VALUE and pixels.max() <= MAX_VALUE:  # the common case; NaN fails both
        return None
    finite = np.isfinite(pixels) if pixels.dtype.kind == "f" else np.ones(pixels.shape, bool)
    with np.errstate(invalid="ignore"):
        bad = ~finite | (pixels < MIN_VALUE) | (pixels > MAX_VALUE)
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), pixels.shape))
    return BadPixel(index, float(pixels[index]), bool(finite[index]))
