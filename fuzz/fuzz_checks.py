"""What a parsed inference request must be, whatever bytes it came from."""

from __future__ import annotations

import numpy as np

from service.codecs.v2.outputs import OUTPUTS
from service.codecs.v2.protocol import InferenceRequest

MAX_BATCH = 8
MAX_BYTES = 1 << 20


def check_request(request: InferenceRequest) -> None:
    images = request.images
    assert images.ndim == 2 and images.shape[1] == 784 and 1 <= len(images) <= MAX_BATCH, images.shape
    assert np.isfinite(images).all() and images.min() >= 0 and images.max() <= 255
    assert all(name in OUTPUTS for name, _ in request.outputs), request.outputs
