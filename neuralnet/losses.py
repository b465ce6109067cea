"""Softmax cross-entropy on one-hot labels, numerically stable.

For logits z (N, K) and one-hot y: log p = z - max(z) - log(sum exp(z - max(z))),
L = -(1/N) sum_n sum_k y_nk log p_nk, and dL/dz = (softmax(z) - y) / N.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


def one_hot(labels: np.ndarray, num_classes: int = 10, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Integer labels (N,) -> one-hot rows (N, num_classes)."""
    out: np.ndarray = np.zeros((len(labels), num_classes), dtype)
    out[np.arange(len(labels)), labels] = 1
    return out


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """exp(z - max z) / sum exp(z - max z), row by row; with `overwrite`, in `logits`' own memory."""
    z = logits if overwrite else logits.copy()
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss over the batch and its gradient with respect to the logits."""
    log_p = log_softmax(logits)
    n = len(logits)
    loss = float(-(targets * log_p).sum() / n)
    grad = (np.exp(log_p) - targets) / logits.dtype.type(n)
    return loss, grad.astype(logits.dtype, copy=False)
