"""The MNIST preparation of a drawn picture: white ink on black, the ink's bounding box scaled to
20 px on its longer side (aspect kept), pasted into 28x28 with its centre of mass at (14, 14).

    ink(y, x) >= 0.1 * max ink       the pixels that bound the crop (fainter ones do not widen it)
    scale = 20 / max(height, width)  Lanczos resampling, clipped back to 0-255
    (cy, cx) = sum(p * (y, x)) / sum(p)
    offset = round(14 - (cy, cx))    an integer shift, clamped so the whole crop stays in the frame

The same steps as the service's image codec (service/codecs/images.py `mnist_frame`), written again
here because training never imports the service (docs/architecture.md).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from neuralnet.preprocess import centred_by_mass, ink_box

SIDE = 28
INK_FLOOR = 0.1
FILTER = Image.Resampling.LANCZOS


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the mass centre of a non-negative image; its geometric centre if it is empty."""
    image = np.asarray(image, np.float64)
    total = float(image.sum())
    if total <= 0:
        return (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    ys, xs = np.indices(image.shape)
    return float((ys * image).sum()) / total, float((xs * image).sum()) / total


def mnist_frame(drawing: np.ndarray) -> np.ndarray:
    """(28, 28) uint8 from a white-on-black drawing (H, W) of any size; all black if it has no ink."""
    drawing = np.asarray(drawing, np.float32)
    peak = float(drawing.max(initial=0.0))
    if peak <= 0:
        return np.zeros((SIDE, SIDE), np.uint8)
    # (strictly above a floor just under INK_FLOOR: the peak itself always counts as ink)
    crop, size = ink_box(drawing, np.nextafter(np.float32(INK_FLOOR * peak), np.float32(0)))
    small = np.clip(np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(size, FILTER)), 0, 255)
    return centred_by_mass(small)
