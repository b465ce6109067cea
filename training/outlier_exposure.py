"""Outlier exposure: training also on generated non-digits (training/outliers), pushing the
network's answer on them towards the uniform distribution, so that a confidence score (max softmax,
max logit, energy) is low on non-digits.

    L = (1/B) sum_digits CE(onehot(y), softmax(z))  +  lambda (1/M) sum_outliers CE(u, softmax(z))
    CE(u, softmax(z)) = logsumexp(z) - mean_k z_k            u = (1/K, ..., 1/K)
    dL/dz = (softmax(z) - onehot(y)) / B   on digits,   lambda (softmax(z) - u) / M   on outliers

The outliers of a batch run through the network together with its digits (one forward pass), and
BatchNorm takes its statistics from the digits alone (`digits_set_the_statistics`): with the
batch's statistics a CNN's running statistics followed the outliers (full-frame noise and
constant images dominate a conv channel's mean and variance), and the digits, normalised at
inference unlike in training, lost a point of validation accuracy (98.3 % against 99.2 %).
They come from a pool drawn once from seed POOL_SEED_BASE + the training seed: never the
evaluation sets' seed (training/outliers DEFAULT_SEED).
"""

from __future__ import annotations

import numpy as np

from neuralnet.layers import BatchNorm
from neuralnet.losses import one_hot, softmax_cross_entropy
from neuralnet.network import Sequential
from training.outliers import DEFAULT_SEED, SETS, make_sets

POOL_SEED_BASE = 1_000_000
assert POOL_SEED_BASE != DEFAULT_SEED
# What training shows by default: every set but strokes and scribbles, which stay evaluation-only.
# Many of them are digits (a random walk draws a 2 or a 7 as often as not): trained towards "no
# idea" they took the CNN's validation accuracy from 99.2 to 98.3 % (benchmarks/README.md).
HELD_OUT = ("strokes", "scribbles")
TRAINING_KINDS = tuple(name for name in SETS if name not in HELD_OUT)


def outlier_pool(kinds: tuple[str, ...], per_kind: int, seed: int) -> np.ndarray:
    """(len(kinds) * per_kind, 28, 28) uint8 non-digits, from a seed no evaluation set uses."""
    unknown = set(kinds) - set(SETS)
    if unknown:
        raise ValueError(f"unknown outlier kinds {sorted(unknown)} (from {', '.join(SETS)})")
    return np.concatenate(list(make_sets(per_kind, POOL_SEED_BASE + seed, kinds).values()))


def exposure_loss(logits: np.ndarray, labels: np.ndarray, weight: float, classes: int = 10,
                  digits: tuple[float, np.ndarray] | None = None) -> tuple[float, np.ndarray]:
    """Loss and dL/dlogits for a batch whose first len(labels) rows are digits, the rest outliers.
    `digits`: the digits' own loss and gradient when another loss gives them (distillation)."""
    n = len(labels)
    loss, grad_digits = digits or softmax_cross_entropy(logits[:n], one_hot(labels, classes, logits.dtype))
    if n == len(logits):
        return loss, grad_digits
    uniform = np.full((len(logits) - n, classes), 1 / classes, logits.dtype)
    loss_out, grad_out = softmax_cross_entropy(logits[n:], uniform)
    return loss + weight * loss_out, np.concatenate([grad_digits, weight * grad_out])


def digits_set_the_statistics(model: Sequential, digits: int | None) -> None:
    """Every BatchNorm of `model` takes its training statistics from the batch's first `digits`
    rows (None: from all of them)."""
    for layer in model.layers:
        if isinstance(layer, BatchNorm):
            layer.stats_rows = digits
