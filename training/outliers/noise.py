"""Full-frame non-digits, as raw 28x28 pixels a client could send (no MNIST preparation: there is
no ink to centre). Every pixel p is uint8, 0-255, white-on-black convention.

    blank      p = c,  c in 0..3                                 (black, and black with a faint offset)
    constant   p = c,  c spread over 0..255
    uniform    p ~ U{lo..hi}, with random 0 <= lo < hi <= 255 per image
    gaussian   p = clip(N(mu, sigma^2)), mu in 0..255, sigma in 8..128
    dots       p = 255 on a random 1-12 % of the pixels, 0 elsewhere (sparse speckle)
    brightened p = clip(g * u),  u ~ U[0, 1) at a random 2-30 % density, gain g from GAINS

`brighten_until_fooled` is the issue's "noise brightened until a plain model is fooled": for each
base image it walks up GAINS and keeps the first image the given model answers with a confidence
above the bar (or the brightest one, if none is).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SIDE = 28
GAINS = (16.0, 32.0, 64.0, 128.0, 255.0, 512.0, 1024.0, 2048.0)


def blank(rng: np.random.Generator, n: int) -> np.ndarray:
    levels = rng.integers(0, 4, n)
    return np.broadcast_to(levels[:, None, None], (n, SIDE, SIDE)).astype(np.uint8)


def constant(rng: np.random.Generator, n: int) -> np.ndarray:
    levels = np.rint(np.linspace(0, 255, n)).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None], (n, SIDE, SIDE)).copy()


def uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    lo = rng.integers(0, 200, n)
    hi = lo + 1 + (rng.random(n) * (255 - lo)).astype(np.int64)
    u = rng.random((n, SIDE, SIDE))
    return np.rint(lo[:, None, None] + u * (hi - lo)[:, None, None]).astype(np.uint8)


def gaussian(rng: np.random.Generator, n: int) -> np.ndarray:
    mu = rng.uniform(0, 255, n)[:, None, None]
    sigma = np.exp(rng.uniform(np.log(8), np.log(128), n))[:, None, None]
    return np.clip(np.rint(mu + sigma * rng.standard_normal((n, SIDE, SIDE))), 0, 255).astype(np.uint8)


def dots(rng: np.random.Generator, n: int) -> np.ndarray:
    density = rng.uniform(0.01, 0.12, n)[:, None, None]
    return np.where(rng.random((n, SIDE, SIDE)) < density, 255, 0).astype(np.uint8)


def noise_bases(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 28, 28) float64 in [0, 1): faint sparse noise, the starting points of `brightened`."""
    density = rng.uniform(0.02, 0.30, n)[:, None, None]
    return np.where(rng.random((n, SIDE, SIDE)) < density, rng.random((n, SIDE, SIDE)), 0.0)


def brighten(bases: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(np.rint(bases * gain), 0, 255).astype(np.uint8)


def brightened(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sparse noise at every gain of GAINS in turn (model-independent; see `brighten_until_fooled`)."""
    bases = noise_bases(rng, n)
    gains = np.array(GAINS)[np.arange(n) % len(GAINS)]
    return np.stack([brighten(b, g) for b, g in zip(bases, gains, strict=True)])


def brighten_until_fooled(bases: np.ndarray, confidence: Callable[[np.ndarray], np.ndarray],
                          bar: float = 0.95) -> np.ndarray:
    """For each base, the least-bright image of GAINS whose `confidence(images)` (N,) exceeds `bar`,
    else the brightest."""
    chosen = brighten(bases, GAINS[-1])
    done = np.zeros(len(bases), bool)
    for gain in GAINS:
        images = brighten(bases, gain)
        fooled = ~done & (confidence(images) > bar)
        chosen[fooled] = images[fooled]
        done |= fooled
    return chosen
