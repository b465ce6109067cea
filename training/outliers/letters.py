"""Letters A-Z and a-z that do not look like digits, rendered from TrueType fonts with Pillow at
several sizes, positions and small rotations, then given the MNIST preparation (frame.py).

Fonts, in this order, those present:
- Aileron Regular, the font Pillow itself ships (`ImageFont.load_default(size)`, PyPI `pillow`,
  always there: the set never comes out empty);
- DejaVu Sans, DejaVu Sans Bold, DejaVu Serif (Debian `fonts-dejavu-core`) and Liberation Sans,
  Liberation Serif (Debian `fonts-liberation`), under /usr/share/fonts/truetype.
Which ones were found is in `letter_fonts()`; the set is the same on machines with the same fonts.

Left out as digit look-alikes (the digit each can pass for):
    0: O o Q D      1: I l i j J      2: Z z      5: S s      6: G b      7: T      8: B      9: g q a
`EXCLUDED` is that list; `LETTERS` the 32 others. Kept though debatable: 'A' (a closed top, not an
open '4'), 'L', 't', 'y', 'e', 'U', 'u', measured rather than assumed away.
White ink on black, as MNIST.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from training.outliers.frame import mnist_frame

EXCLUDED = frozenset("OoQDIlijJZzSsGbTBgqa")
LETTERS = tuple(c for c in string.ascii_uppercase + string.ascii_lowercase if c not in EXCLUDED)
FONT_DIR = Path("/usr/share/fonts/truetype")
SYSTEM_FONTS = ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf", "dejavu/DejaVuSerif.ttf",
                "liberation/LiberationSans-Regular.ttf", "liberation/LiberationSerif-Regular.ttf")
BUILTIN = "pillow:Aileron-Regular"
SIZES = (14, 20, 28, 40, 56, 72)  # points, on a 128x128 canvas
CANVAS = 128
MAX_ROTATION_DEG = 12.0


@cache
def letter_fonts() -> tuple[str, ...]:
    """The fonts the letters set uses: Pillow's own first, then the system ones that are present."""
    return (BUILTIN, *(str(FONT_DIR / name) for name in SYSTEM_FONTS if (FONT_DIR / name).is_file()))


@cache
def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if name == BUILTIN:
        return ImageFont.load_default(size)
    return ImageFont.truetype(name, size)


def letter_image(letter: str, font: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One letter at `size` points, at a random place and tilt, as an MNIST-prepared (28, 28) uint8."""
    image = Image.new("L", (CANVAS, CANVAS), 0)
    margin = min(0.6 * size, CANVAS / 2)  # the whole letter stays on the canvas
    x, y = rng.uniform(margin, CANVAS - margin, 2)
    ImageDraw.Draw(image).text((x, y), letter, fill=255, font=_font(font, size), anchor="mm")
    angle = float(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR)
    return mnist_frame(np.asarray(image))


def letters(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` letters cycling through LETTERS, each with a random font, size, place and tilt."""
    fonts = letter_fonts()
    out = []
    for i in range(n):
        font = fonts[int(rng.integers(len(fonts)))]
        size = SIZES[int(rng.integers(len(SIZES)))]
        out.append(letter_image(LETTERS[i % len(LETTERS)], font, size, rng))
    return np.stack(out)
