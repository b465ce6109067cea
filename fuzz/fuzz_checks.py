"""What a parsed inference request must be, whatever bytes it came from."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from service.codecs.v2.outputs import OUTPUTS
from service.codecs.v2.protocol import InferenceRequest
from service.errors import ServiceError

MAX_BATCH = 8
T = TypeVar("T")
MAX_BYTES = 1 << 20


def check_request(request: InferenceRequest) -> None:
    images = request.images
    assert images.ndim == 2 and images.shape[1] == 784 and 1 <= len(images) <= MAX_BATCH, images.shape
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 255
    assert all(name in OUTPUTS for name, _ in request.outputs), request.outputs


def check_parse(parse: Callable[[], T], check: Callable[[T], None]) -> None:
    """One parse of fuzzed bytes: refused with a 4xx, or a result that passes `check`."""
    try:
        parsed = parse()
    except ServiceError as exc:
        assert 400 <= exc.status < 500, exc.status
        return
    check(parsed)
