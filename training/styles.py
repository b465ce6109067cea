"""Ways of writing digits that MNIST's writers seldom used, made in code from a seed.

MNIST's digits come from American writers; digits from elsewhere differ in style, not only in how
they were scanned (training/shifts.py). The styles the default CNN misread most on other writers'
scans:

    serif ones   a 1 with a flag at its top and often a base at its foot, as most of Europe writes
                 it: drawn onto MNIST's own 1s, in their stroke width, at their slant
    font digits  0-9 as printed in the fonts matplotlib ships (sans, serif, mono, STIX, Computer
                 Modern; upright, bold, italic): closed 4s, flat-headed 9s, 1s with flag and base,
                 7s with a bar, drawn with a random stroke, size, slant and rotation

Both give white-on-black pictures that training shifts and prepares like any other digit.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SCALE = 4  # serif strokes are drawn at 4x MNIST's size, then reduced by area average (anti-aliased)
# matplotlib's bundled fonts whose 0-9 are ordinary lining digits (cmmi10's are old-style figures;
# the symbol, size and display variants draw no digits of their own)
FONT_PREFIXES = ("DejaVuSans.", "DejaVuSans-", "DejaVuSansMono", "DejaVuSerif.", "DejaVuSerif-",
                 "STIXGeneral", "cmr10", "cmss10", "cmtt10", "cmb10", "cmti10")


def _ends(ink: np.ndarray) -> tuple[float, float, float, float]:
    """(top row, its ink's mean column, bottom row, its ink's mean column) of a stroke."""
    rows = np.flatnonzero(ink.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1])
    top_cols = np.flatnonzero(ink[top : top + 2].any(axis=0))
    bottom_cols = np.flatnonzero(ink[bottom - 1 : bottom + 1].any(axis=0))
    return top, float(top_cols.mean()), bottom, float(bottom_cols.mean())


def serif_one(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(28, 28) uint8 MNIST 1 -> the same 1 with a flag, a base or both, in its own stroke width."""
    picture = np.asarray(digit, np.float32)
    ink = picture > 96
    if ink.sum() < 8:
        return np.asarray(digit, np.uint8)
    top, x_top, bottom, x_bottom = _ends(ink)
    height = max(bottom - top, 8)
    width = float(np.clip((picture > 128).sum() / height, 1.5, 4.5))  # pixels of ink per row
    layer = Image.new("L", (28 * SCALE, 28 * SCALE), 0)
    draw = ImageDraw.Draw(layer)
    pen = max(2, round(width * SCALE * rng.uniform(0.8, 1.6)))  # some flags drawn heavier than the stem
    kind = rng.choice(["flag", "both", "base"], p=[0.4, 0.45, 0.15])
    if kind in ("flag", "both"):
        # below the horizontal, and at least 30 degrees off the stem, or a slanted stem hides it
        stem = np.degrees(np.arctan2(bottom - top, x_top - x_bottom))  # 90: upright, < 90: leaning as "/"
        angle = np.deg2rad(max(min(rng.uniform(25, 60), stem - 30), 5))
        length = rng.uniform(0.25, 0.55) * height
        start = (x_top + 0.5, top + 0.5)
        end = (start[0] - length * np.cos(angle), start[1] + length * np.sin(angle))
        draw.line([tuple(SCALE * np.array(start)), tuple(SCALE * np.array(end))], fill=255, width=pen)
    if kind in ("base", "both"):
        half = rng.uniform(0.2, 0.4) * height
        off = rng.uniform(-0.25, 0.25) * half  # not always centred on the stem
        y = bottom + 0.5
        draw.line([(SCALE * (x_bottom + 0.5 - half + off), SCALE * y),
                   (SCALE * (x_bottom + 0.5 + half + off), SCALE * y)], fill=255, width=pen)
    strokes = np.asarray(layer.resize((28, 28), Image.Resampling.BOX), np.float32)
    strokes *= float(np.percentile(picture[ink], 90)) / 255  # the pen's own darkness
    return np.rint(np.clip(np.maximum(picture, strokes), 0, 255)).astype(np.uint8)


@lru_cache(maxsize=1)
def font_files() -> tuple[Path, ...]:
    """The fonts digits are printed in: matplotlib's bundled TrueType files (the `train` extra)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return tuple(sorted(p for p in folder.glob("*.ttf") if p.name.startswith(FONT_PREFIXES)))


def font_digit(digit: int, rng: np.random.Generator, fonts: tuple[Path, ...] | None = None) -> np.ndarray:
    """(H, W) float32 white-on-black picture of `digit` in a random font, cropped to its ink."""
    fonts = fonts or font_files()
    size = int(rng.integers(48, 96))
    font = ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]), size)
    canvas = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(canvas).text((30, 10), str(digit), fill=255, font=font,
                                stroke_width=int(rng.integers(0, 3)) * size // 64, stroke_fill=255)
    picture = np.asarray(canvas, np.float32)
    rows, cols = np.flatnonzero(picture.max(axis=1) > 0), np.flatnonzero(picture.max(axis=0) > 0)
    return picture[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def font_digits(labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """One printed picture per label (fonts drawn at random)."""
    fonts = font_files()
    if not fonts:
        raise RuntimeError("no fonts found in matplotlib's data folder (pip install matplotlib)")
    return [font_digit(int(label), rng, fonts) for label in labels]


def style_digits(digits: np.ndarray, labels: np.ndarray, n: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n digits in these styles, (n, 28, 28) uint8 framed as MNIST's, and their labels: half serif
    ones made from `digits`' 1s, half font digits of every label."""
    from training.outliers.frame import mnist_frame

    ones = np.flatnonzero(labels == 1)
    n_ones = n // 2
    made = [serif_one(digits[i], rng) for i in rng.choice(ones, n_ones, replace=len(ones) < n_ones)]
    font_labels = rng.integers(0, 10, n - n_ones)
    made += [mnist_frame(p) for p in font_digits(font_labels, rng)]
    y = np.concatenate([np.ones(n_ones, labels.dtype), font_labels.astype(labels.dtype)])
    return np.stack(made).astype(np.uint8), y
