"""Non-digit pictures as the service's image route would see them: noise and blotchy textures at
any resolution, prepared the way `service/codecs/images.py` prepares an uploaded file, so that a
photo of a textured surface is covered as well as raw pixel arrays are (noise.py).

    texture    u ~ U[0, 1) on a side x side grid, side in 12..120, blurred by a Gaussian of
               sigma in 0..4 px, inverted half of the time; drawn again while its contrast with
               the background is under 32 of 255 (the service refuses such a picture as blank)
    ink        the border's median is the background: inverted if light, subtracted, and the rest
               stretched to 0..255 (neuralnet/preprocess.py, the steps the service takes)
    frame      the MNIST preparation (frame.py): ink box to 20 px, centred by mass in 28x28
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from neuralnet.preprocess import light_on_dark, stretched
from training.outliers.frame import SIDE, mnist_frame

MIN_CONTRAST = 32.0


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A picture (side, side) uint8 with enough contrast to be read as ink."""
    while True:
        side = int(rng.integers(12, 121))
        noise = Image.fromarray(np.rint(rng.random((side, side)) * 255).astype(np.uint8))
        picture = np.asarray(noise.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 4)))))
        if rng.random() < 0.5:
            picture = 255 - picture
        if light_on_dark(picture.astype(np.float32))[2] >= MIN_CONTRAST:
            return picture


def _ink(gray: np.ndarray) -> np.ndarray:
    return stretched(*light_on_dark(gray))


def textures(rng: np.random.Generator, n: int) -> np.ndarray:
    images = np.empty((n, SIDE, SIDE), np.uint8)
    for i in range(n):
        images[i] = mnist_frame(_ink(_texture(rng).astype(np.float32)))
    return images
