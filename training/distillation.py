"""Distillation: the network in training also learns what shipped versions (its teachers) answer
on the very digits of each batch, augmented as the batch is. An ensemble of versions reads digits
better than any one of them, but costs a forward pass per member at serving time; a network
taught by it keeps one network's cost.

    t = mean of the teachers' logits          p_T(z) = softmax(z / T)
    L = (1 - a) CE(onehot(y), p_1(z)) + a T^2 CE(p_T(t), p_T(z))
    dL/dz = (1 - a)(p_1(z) - onehot(y)) / B + a T (p_T(z) - p_T(t)) / B

T^2 keeps the soft term's gradient on the scale of the hard one's as T grows (Hinton, Vinyals and
Dean, 2015). Each teacher normalises the pixels with its own constants. Only digits are taught:
the outliers of outlier exposure keep their uniform target (training/outlier_exposure.py).

The teachers answer as the service runs them (neuralnet/inference.py): a batch in chunks, the
chunks side by side on the process's cores with one BLAS thread each, which also spreads im2col
and pooling over the cores.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from neuralnet.artifact import load_artifact
from neuralnet.inference import InferenceModel
from neuralnet.losses import one_hot, softmax, softmax_cross_entropy


def soft_target_loss(logits: np.ndarray, teacher_logits: np.ndarray,
                     temperature: float) -> tuple[float, np.ndarray]:
    """T^2 CE(softmax(t/T), softmax(z/T)), mean over the batch, and its gradient in z."""
    t = np.float32(temperature)
    targets = softmax(teacher_logits / t, overwrite=True)
    loss, grad = softmax_cross_entropy(logits / t, targets.astype(logits.dtype))
    return float(loss * temperature**2), (grad * t).astype(logits.dtype, copy=False)


@dataclass
class Teachers:
    """Shipped networks whose mean logits a training run learns from."""

    networks: list[InferenceModel]  # each fed pixels scaled to 0-1
    weight: float  # a: the soft term's share
    temperature: float
    provenance: list[dict[str, Any]]  # model name, version and sha256 of each teacher
    blas: ThreadpoolController = field(default_factory=ThreadpoolController)  # found once, not per batch

    @classmethod
    def load(cls, paths: list[str] | tuple[str, ...], weight: float, temperature: float) -> Teachers:
        networks, provenance = [], []
        threads = len(os.sched_getaffinity(0))
        for path in paths:
            artifact = load_artifact(Path(path))
            served = InferenceModel.from_artifact(artifact, threads=threads)
            networks.append(dataclasses.replace(served, scale=1.0))
            provenance.append({"model_name": artifact.name, "version": artifact.version,
                               "sha256": artifact.sha256})
        return cls(networks, weight, temperature, provenance)

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """The teachers' mean logits for (N, 28, 28) pixels scaled to 0-1."""
        with self.blas.limit(limits=1, user_api="blas"):
            total = sum(network.logits(pixels) for network in self.networks)
        return np.asarray(total, np.float32) / np.float32(len(self.networks))

    def loss(self, logits: np.ndarray, labels: np.ndarray, pixels: np.ndarray) -> tuple[float, np.ndarray]:
        """The digits' loss and gradient (module docstring): rows of `logits` are `pixels`' digits."""
        hard, hard_grad = softmax_cross_entropy(logits, one_hot(labels, logits.shape[1], logits.dtype))
        soft, soft_grad = soft_target_loss(logits, self.logits(pixels), self.temperature)
        a = self.weight
        return (1 - a) * hard + a * soft, (np.float32(1 - a) * hard_grad + np.float32(a) * soft_grad)
