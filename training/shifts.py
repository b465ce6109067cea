"""Shifted digits: MNIST digits as other sources would hand them to the image route (other
resolutions, scanners, pens, papers, cameras), made in code from a seed, each image then prepared
exactly as the route prepares an uploaded file:

    picture (any size, light ink on dark or dark on light) -> light_on_dark, stretched
    (neuralnet/preprocess.py) -> ink box to 20 px, centred by mass in 28x28 (outliers/frame.py)

    lowres8/12/16  the ink box (often drawn bolder, binarised, stretched to a square) reduced by
                   area average to 8, 12 or 16 px, quantised to 17 levels as an 8x8 scan is,
                   then enlarged to 64 px (nearest or bilinear), dark on white
    blur           Gaussian blur, sigma 1-3 px at 3x MNIST's size
    thickness      the strokes dilated or eroded (3x3 max / min filter at 3x size, 1-2 times)
    affine         rotation up to 20 degrees, shear up to 0.35, scale 0.75-1.25, one axis alone
    crops          off-centre on a larger canvas, or cut tight: the picture's edge at 0-1 px
                   from the ink on some sides (a little ink may be cut)
    jpeg           dark on white at 64-96 px, saved as JPEG at quality 8-40
    paper          dark ink of varying strength on paper: texture, uneven lighting, low contrast
    mixed          two to four of the above, composed: what training draws from

Each set draws from its own generator, seeded from (seed, the set's index in SHIFTS). Which
digits a set shifts is the caller's: training shifts its training split, the threshold is fitted
on shifted validation digits, and the figures are measured on shifted test digits.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from neuralnet.preprocess import light_on_dark, stretched
from training.outliers.frame import mnist_frame

DEFAULT_SEED = 27
MIN_CONTRAST = 32.0  # the image route refuses a picture whose ink is fainter: such a draw is redone

Picture = np.ndarray  # (H, W) float32 0-255, white ink on black unless a step says otherwise
Shift = Callable[[Picture, np.random.Generator], Picture]


def _image(picture: Picture) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(np.clip(picture, 0, 255), np.float32))


def _gray(picture: Picture) -> Image.Image:
    """8-bit: what Pillow's filters take."""
    return Image.fromarray(np.rint(np.clip(picture, 0, 255)).astype(np.uint8))


def _resized(picture: Picture, size: tuple[int, int], resample: Image.Resampling) -> Picture:
    return np.asarray(_image(picture).resize(size, resample), np.float32)


def _enlarged(picture: Picture, side: int = 84) -> Picture:
    """At least `side` px on its longer side (3x MNIST's): steps that compose stay at that size."""
    h, w = picture.shape
    factor = side // max(h, w)
    if factor <= 1:
        return picture
    return _resized(picture, (w * factor, h * factor), Image.Resampling.BILINEAR)


def lowres(side: int) -> Shift:
    def shift(picture: Picture, rng: np.random.Generator) -> Picture:
        rows = np.flatnonzero(picture.max(axis=1) > 25)
        cols = np.flatnonzero(picture.max(axis=0) > 25)
        if len(rows) and len(cols):
            picture = picture[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        if rng.random() < 0.6:  # a bolder pen, often binarised: scanned bitmaps (UCI's 32x32)
            big = _gray(_enlarged(picture))
            for _ in range(int(rng.integers(1, 4))):
                big = big.filter(ImageFilter.MaxFilter(3))
            picture = np.asarray(big, np.float32)
            if rng.random() < 0.5:
                picture = np.where(picture > 96, 255.0, 0.0).astype(np.float32)
        h, w = picture.shape
        inner = side - int(rng.integers(1, 3))  # a margin: the border stays paper, as in a scan
        scale = inner / max(h, w)
        small_w, small_h = max(1, round(w * scale)), max(1, round(h * scale))
        if w >= 0.4 * h and rng.random() < 0.4:  # scaled to fill the box, aspect not kept
            small_w = small_h = inner
        small = _resized(picture, (small_w, small_h), Image.Resampling.BOX)
        frame = np.zeros((side, side), np.float32)  # the scan's frame, the digit filling it
        top, left = (side - small_h) // 2, (side - small_w) // 2
        frame[top : top + small_h, left : left + small_w] = small
        levels = np.rint(frame / 255 * 16) * (255 / 16)  # an 8x8 scan's 17 grey levels
        resample = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR
        return 255.0 - _resized(levels, (64, 64), resample)
    return shift


def blur(picture: Picture, rng: np.random.Generator) -> Picture:
    big = _gray(_enlarged(picture))
    return np.asarray(big.filter(ImageFilter.GaussianBlur(float(rng.uniform(1.0, 3.0)))), np.float32)


def thickness(picture: Picture, rng: np.random.Generator) -> Picture:
    big = _gray(_enlarged(picture))
    pen = ImageFilter.MaxFilter(3) if rng.random() < 0.6 else ImageFilter.MinFilter(3)
    for _ in range(int(rng.integers(1, 3))):
        thinner = big.filter(pen)
        if np.asarray(thinner).max() < 0.5 * np.asarray(big).max():
            break  # eroded away: keep the last visible stroke
        big = thinner
    return np.asarray(big, np.float32)


def affine(picture: Picture, rng: np.random.Generator) -> Picture:
    big = _enlarged(picture)
    h, w = big.shape
    canvas = np.zeros((h + 2 * (h // 4), w + 2 * (w // 4)), np.float32)  # room to turn into
    canvas[h // 4 : h // 4 + h, w // 4 : w // 4 + w] = big
    theta = np.deg2rad(rng.uniform(-20, 20))
    shear = rng.uniform(-0.35, 0.35)
    sy, sx = rng.uniform(0.75, 1.25, 2)
    if rng.random() < 0.5:
        sy = 1.0  # one axis alone: narrower or wider digits
    forward = (np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
               @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy]))
    inverse = np.linalg.inv(forward)  # PIL maps output (x, y) to input coordinates
    cy, cx = canvas.shape[0] / 2, canvas.shape[1] / 2
    offset = np.array([cx, cy]) - inverse @ np.array([cx, cy])
    coeffs = (*inverse[0], offset[0], *inverse[1], offset[1])
    warped = _image(canvas).transform(canvas.shape[::-1], Image.Transform.AFFINE, coeffs,
                                      Image.Resampling.BILINEAR)
    return np.asarray(warped, np.float32)


def crops(picture: Picture, rng: np.random.Generator) -> Picture:
    rows = np.flatnonzero(picture.max(axis=1) > 25)
    cols = np.flatnonzero(picture.max(axis=0) > 25)
    if not (len(rows) and len(cols)):
        return picture
    ink = picture[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = ink.shape
    if rng.random() < 0.5:  # off-centre on a larger canvas
        side = int(rng.integers(max(h, w) + 8, 3 * max(h, w) + 8))
        canvas = np.zeros((side, side), np.float32)
        top, left = int(rng.integers(0, side - h + 1)), int(rng.integers(0, side - w + 1))
        canvas[top : top + h, left : left + w] = ink
        return canvas
    # tight: a margin of 0-1 px on each side, sometimes one pixel row or column cut off
    margins = rng.integers(-1, 2, 4) if rng.random() < 0.3 else rng.integers(0, 2, 4)
    padded = np.pad(ink, 1)
    t, b, l, r = (1 - margins).clip(0, 2)
    return padded[t : padded.shape[0] - b, l : padded.shape[1] - r]


def jpeg(picture: Picture, rng: np.random.Generator) -> Picture:
    side = int(rng.integers(64, 97))
    h, w = picture.shape
    scale = side / max(h, w)
    big = 255.0 - _resized(picture, (max(1, round(w * scale)), max(1, round(h * scale))),
                           Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    _gray(big).save(
        buffer, "JPEG", quality=int(rng.integers(8, 41)))
    return np.asarray(Image.open(buffer).convert("L"), np.float32)


def paper(picture: Picture, rng: np.random.Generator) -> Picture:
    big = _enlarged(picture) / 255.0
    h, w = big.shape
    paper_level = rng.uniform(170, 250)
    ink_level = rng.uniform(20, paper_level - 70)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    gy, gx = rng.uniform(-1, 1, 2)
    light = 1.0 + rng.uniform(0, 0.25) * (gy * (yy - 0.5) + gx * (xx - 0.5))  # uneven lighting
    grain = _gray(rng.normal(0, 1, (h, w)).astype(np.float32) * 40 + 128).filter(
        ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0))))
    texture = (np.asarray(grain, np.float32) - 128) * rng.uniform(0.05, 0.3)
    gray = (paper_level + (ink_level - paper_level) * big) * light + texture
    return np.asarray(np.clip(gray, 0, 255), np.float32)


SINGLE: dict[str, Shift] = {
    "lowres8": lowres(8), "lowres12": lowres(12), "lowres16": lowres(16),
    "blur": blur, "thickness": thickness, "affine": affine, "crops": crops, "jpeg": jpeg, "paper": paper,
}
GEOMETRY = ("affine", "thickness", "crops")  # on a light-on-dark picture: before the rest
RENDERING = ("lowres8", "lowres12", "lowres16", "blur", "jpeg", "paper")  # the last step: may invert


def mixed(picture: Picture, rng: np.random.Generator) -> Picture:
    steps = [name for name in GEOMETRY if rng.random() < 0.5]
    steps.append(RENDERING[int(rng.integers(len(RENDERING)))])
    for name in steps:
        picture = SINGLE[name](picture, rng)
    return picture


SHIFTS: dict[str, Shift] = {**SINGLE, "mixed": mixed}


STYLES_SHIFTED = 0.6  # of the style digits in the training pool: the rest stay as printed or drawn
ATTEMPTS = 8  # draws of a shift before a digit is kept unshifted


def prepared(picture: Picture) -> np.ndarray | None:
    """(28, 28) uint8: the picture as the image route prepares an uploaded file; None when the
    route would refuse it as blank."""
    gray, background, contrast = light_on_dark(np.asarray(picture, np.float32))
    if contrast < MIN_CONTRAST:
        return None
    return mnist_frame(stretched(gray, background, contrast))


def shift_rng(name: str, seed: int = DEFAULT_SEED) -> np.random.Generator:
    return np.random.default_rng([seed, list(SHIFTS).index(name)])


def shifted(digits: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """(N, 28, 28) uint8 MNIST digits -> (N, 28, 28) uint8, shifted by `name` and prepared."""
    if name not in SHIFTS:
        raise KeyError(f"unknown shift {name!r} (one of {', '.join(SHIFTS)})")
    out = np.empty((len(digits), 28, 28), np.uint8)
    for i, digit in enumerate(digits):
        picture = np.asarray(digit, np.float32)
        image = None
        for _ in range(ATTEMPTS):  # a faint draw (low-contrast paper, strokes eroded) is drawn again
            image = prepared(SHIFTS[name](picture, rng))
            if image is not None:
                break
        out[i] = image if image is not None else mnist_frame(picture)
    return out


def make_shifted(digits: np.ndarray, seed: int = DEFAULT_SEED,
                 names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Every shift (or `names`) applied to the same digits, each from its own generator."""
    return {name: shifted(digits, name, shift_rng(name, seed)) for name in names or tuple(SHIFTS)}


def training_pool(digits: np.ndarray, labels: np.ndarray, size: int, styles: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """What `--shift-augment` draws from: `size` of the training digits shifted (`mixed`), and
    `styles` digits written as MNIST's writers seldom do (training/styles.py), most of them shifted
    too; (N, 28, 28) uint8 prepared as the image route prepares a file, and their labels."""
    chosen = rng.choice(len(digits), min(size, len(digits)), replace=False)
    images, y = shifted(digits[chosen], "mixed", rng), labels[chosen]
    if styles:
        from training.styles import style_digits

        written, written_y = style_digits(digits, labels, styles, rng)
        some = np.flatnonzero(rng.random(styles) < STYLES_SHIFTED)
        written[some] = shifted(written[some], "mixed", rng)
        images, y = np.concatenate([images, written]), np.concatenate([y, written_y])
    return images, y
