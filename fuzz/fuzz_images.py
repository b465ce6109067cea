"""Uploaded image files (service/codecs/images.py): any bytes give a 28x28 uint8 MNIST frame or a
ServiceError; never another exception."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["service", "neuralnet"]):
    import numpy as np

    from service.codecs.images import mnist_input
    from service.errors import ServiceError

MAX_BYTES = 1 << 20
MAX_PIXELS = 1 << 20  # smaller than the service's: each input is decoded in full


def test_one_input(data: bytes) -> None:
    try:
        frame = mnist_input(data, MAX_BYTES, MAX_PIXELS, ["body", "file"])
    except ServiceError as exc:
        assert 400 <= exc.status < 500, exc.status
        return
    assert frame.shape == (28, 28) and frame.dtype == np.uint8, (frame.shape, frame.dtype)


if __name__ == "__main__":
    from common import run

    run(test_one_input)
