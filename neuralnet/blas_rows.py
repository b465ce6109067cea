"""Whether this process's BLAS computes an image's rows of a layer's matrix product alike, bit for
bit, alone and in any batch, wherever the image sits in it.

Serving requests together in one forward pass relies on it: an image's answer in a batch is then
exactly its answer alone. OpenBLAS's kernel for the CPU it detects has held it wherever we looked,
but a kernel forced by the environment need not: with OPENBLAS_CORETYPE=Haswell on a CPU with
AVX-512, a row's last bits depend on its place among 16. `rows_alike` probes a layer's product
shape once per process; InferenceModel.batches_alike asks it for every layer.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from neuralnet.layers.dense import one_row_as_two

# Batches of these many images (up to the most a product holds), the probed image first and last
PROBE_IMAGES = (2, 3, 5, 8, 11, 16, 32, 64)

_known: dict[tuple[int, int, int, int, str, bool], bool] = {}
_lock = threading.Lock()


def rows_alike(inputs: int, outputs: int, rows_per_image: int = 1, max_images: int = 64,
               dtype: Any = np.float32, transposed: bool = False) -> bool:
    """Whether `x @ W`, W of shape (inputs, outputs), with `rows_per_image` rows of x per image
    (a conv layer's output positions; 1 for Dense, whose one row alone is computed as two, as
    W^T x^T if `transposed`), gives an image's rows the same bits alone as in a product of up to
    `max_images` images, first or last."""
    key = (inputs, outputs, rows_per_image, max_images, np.dtype(dtype).str, transposed)
    with _lock:
        if key not in _known:
            _known[key] = _probe(inputs, outputs, rows_per_image, max_images, np.dtype(dtype), transposed)
        return _known[key]


def _probe(inputs: int, outputs: int, rows_per_image: int, max_images: int, dtype: np.dtype[Any],
           transposed: bool) -> bool:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((inputs, outputs)).astype(dtype)
    image = rng.standard_normal((rows_per_image, inputs)).astype(dtype)
    alone = (one_row_as_two(image, weights, np.ascontiguousarray(weights.T) if transposed else None)
             if rows_per_image == 1 else image @ weights)  # as Dense does
    for images in (n for n in PROBE_IMAGES if n <= max_images):
        batch = rng.standard_normal((images * rows_per_image, inputs)).astype(dtype)
        batch[:rows_per_image] = batch[-rows_per_image:] = image
        out = batch @ weights
        if not (np.array_equal(out[:rows_per_image], alone) and np.array_equal(out[-rows_per_image:], alone)):
            return False
    return True
