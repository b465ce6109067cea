"""/v1 JSON bodies (service/codecs/v1/parser.py): any bytes give (N, 784) float32 pixels in 0-255 or
an ServiceError; never another exception."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["service", "neuralnet"]):
    import numpy as np

    from service.codecs.v1.parser import parse_batch, parse_single

from fuzz_checks import check_parse

LIMIT = 8


def check_pixels(pixels: np.ndarray) -> None:
    assert pixels.dtype == np.float32 and pixels.ndim == 2 and pixels.shape[1] == 784, pixels.shape
    assert 1 <= len(pixels) <= LIMIT, len(pixels)
    assert np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() <= 255


def test_one_input(data: bytes) -> None:
    check_parse(lambda: parse_single(data, "application/json"), check_pixels)
    check_parse(lambda: parse_batch(data, "application/json", LIMIT), check_pixels)


if __name__ == "__main__":
    from common import run

    run(test_one_input)
