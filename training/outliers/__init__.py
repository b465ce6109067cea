"""Generated non-digits: the evaluation sets of the "not a digit" decision, and later the
outliers of outlier-exposure training. Made in code from a fixed seed (no download), small, each
image (28, 28) uint8, white on black like MNIST.

    full frame (noise.py)     blank, constant, uniform, gaussian, dots, brightened
    MNIST-prepared            strokes, scribbles, tangles, shapes (drawn.py), letters (letters.py): the ink
                              scaled to 20 px on its longer side and centred by mass (frame.py)
    as an upload (uploaded.py) textures: noise pictures of any size, prepared as the image route
                              prepares a file

Each set draws from its own generator, seeded from (seed, the set's index in SETS), so one set's
size never changes another's images. Training and benchmarks use this package; the service never
imports it (tests/test_import_rules.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.outliers import drawn, letters, noise, uploaded

DEFAULT_SEED = 16
DEFAULT_SIZE = 256

Maker = Callable[[np.random.Generator, int], np.ndarray]
SETS: dict[str, Maker] = {
    "blank": noise.blank,
    "constant": noise.constant,
    "uniform": noise.uniform,
    "gaussian": noise.gaussian,
    "dots": noise.dots,
    "brightened": noise.brightened,
    "strokes": drawn.strokes,
    "scribbles": drawn.scribbles,
    "shapes": drawn.shapes,
    "letters": letters.letters,
    # added after the others: their seeds (index in SETS) are unchanged
    "textures": uploaded.textures,
    "tangles": drawn.tangles,
}


def set_rng(name: str, seed: int = DEFAULT_SEED) -> np.random.Generator:
    """The generator of one set: independent of every other set's and of their sizes."""
    return np.random.default_rng([seed, list(SETS).index(name)])


def make_set(name: str, n: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> np.ndarray:
    """(n, 28, 28) uint8 images of the set `name`."""
    if name not in SETS:
        raise KeyError(f"unknown set {name!r} (one of {', '.join(SETS)})")
    images = SETS[name](set_rng(name, seed), n)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    return images


def make_sets(n: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED,
              names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    return {name: make_set(name, n, seed) for name in names or tuple(SETS)}
