"""Digit-likeness scores of a network's answer (higher = more like a training digit), NumPy only.

    max softmax   max_k softmax(z)_k                     z: the logits (N, K)
    max logit     max_k z_k
    energy        log sum_k exp(z_k)                      (the negative free energy)
    Mahalanobis   -min_k (h - mu_k)^T P (h - mu_k)        h: the last hidden layer's activations
                  mu_k = mean of h over training digits of class k
                  Sigma = (1/n) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T   (shared by the classes)
                  P = (Sigma + r I)^-1,  r = 1e-6 * trace(Sigma) / d        (ReLU units that never
                                                                            fire make Sigma singular)

`hidden_and_logits` runs an InferenceModel's serving layers up to the last Dense (the hidden
activations) and then that layer (the logits), in chunks, so no layer stores anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralnet.inference import InferenceModel


def hidden_and_logits(model: InferenceModel, pixels: np.ndarray,
                      chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(h (N, d), z (N, K)) float64 of raw 0-255 pixels (N, 28, 28)."""
    *body, head = model.serving_layers
    hs, zs = [], []
    step = min(chunk, model.chunk_images or chunk)
    for lo in range(0, len(pixels), step):
        x = model.preprocess(pixels[lo : lo + step])
        for layer in body:
            x = layer.forward(x)
        h = x.reshape(len(x), -1)
        hs.append(h.astype(np.float64))
        zs.append(head.forward(h).astype(np.float64))
    return np.concatenate(hs), np.concatenate(zs)


def logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]


def max_softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(z.max(axis=1) - logsumexp(z))


def max_logit(z: np.ndarray) -> np.ndarray:
    return z.max(axis=1)


def energy(z: np.ndarray) -> np.ndarray:
    return logsumexp(z)


@dataclass(frozen=True)
class Mahalanobis:
    """Class means (K, d) and the shared precision matrix (d, d) of hidden activations."""

    means: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, hidden: np.ndarray, labels: np.ndarray, ridge: float = 1e-6) -> Mahalanobis:
        hidden = np.asarray(hidden, np.float64)
        labels = np.asarray(labels, np.int64)
        classes = int(labels.max()) + 1
        means = np.stack([hidden[labels == k].mean(axis=0) for k in range(classes)])
        centred = hidden - means[labels]
        sigma = centred.T @ centred / len(hidden)
        sigma += ridge * max(float(np.trace(sigma)) / len(sigma), 1e-12) * np.eye(len(sigma))
        return cls(means, np.linalg.inv(sigma))

    def distances(self, hidden: np.ndarray) -> np.ndarray:
        """(N, K) squared distances (h - mu_k)^T P (h - mu_k)."""
        hidden = np.asarray(hidden, np.float64)
        hp = hidden @ self.precision
        mp = self.means @ self.precision
        d2 = (hp * hidden).sum(axis=1)[:, None] - 2 * hp @ self.means.T
        d2 += (mp * self.means).sum(axis=1)[None, :]
        return np.maximum(d2, 0.0)

    def score(self, hidden: np.ndarray) -> np.ndarray:
        """-min_k distance: higher = closer to some class's digits."""
        return -self.distances(hidden).min(axis=1)
