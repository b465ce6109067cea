"""service.codecs.pixels: the one check that pixel values are finite and within 0-255."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.codecs.pixels import PIXELS, SIDE, BadPixel, first_bad_pixel


def test_image_size() -> None:
    assert (SIDE, PIXELS) == (28, 784)


@pytest.mark.parametrize("dtype", ["u1", "<u2", "<i8", "<f2", "<f4", "<f8"])
def test_valid_pixels_of_any_dtype_and_shape_pass(dtype: str) -> None:
    pixels = np.arange(2 * SIDE * SIDE).reshape(2, SIDE, SIDE) % 256
    assert first_bad_pixel(pixels.astype(dtype)) is None
    assert first_bad_pixel(np.array([0.0, 255.0])) is None
    assert first_bad_pixel(np.zeros((0, PIXELS))) is None


@pytest.mark.parametrize(("value", "finite"), [(np.nan, False), (np.inf, False), (-np.inf, False),
                                               (-0.5, True), (255.5, True), (1e30, True)])
def test_the_first_bad_element_is_named(value: float, finite: bool) -> None:
    pixels = np.zeros((3, SIDE, SIDE))
    pixels[1, 4, 27] = value
    pixels[2, 0, 0] = -1  # later in row-major order: not the one reported
    bad = first_bad_pixel(pixels)
    assert bad is not None
    assert (bad.index, bad.finite) == ((1, 4, 27), finite)
    assert bad.value == value or (np.isnan(value) and np.isnan(bad.value))


@pytest.mark.parametrize(("pixels", "expected"), [
    (np.array([0, 300, 5], np.int64), BadPixel((1,), 300.0, True)),
    (np.array([[7, -2]], np.int16), BadPixel((0, 1), -2.0, True)),
    (np.array([2**64 - 1], np.uint64), BadPixel((0,), float(2**64 - 1), True)),
])
def test_integer_pixels(pixels: Any, expected: BadPixel) -> None:
    assert first_bad_pixel(pixels) == expected
