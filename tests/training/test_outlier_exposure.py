"""Outlier exposure: its loss and gradient, its pool, and that a short run learns to be unsure of
non-digits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from neuralnet.layers import BatchNorm
from neuralnet.losses import softmax
from neuralnet.preprocess import normalise
from training.data import Mnist
from training.outlier_exposure import exposure_loss, outlier_pool
from training.outliers import SETS, make_set
from training.train import TrainConfig, train


def test_loss_and_gradient_match_the_formula_and_finite_differences() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 10))
    labels = np.array([3, 7])
    loss, grad = exposure_loss(z, labels, weight=0.5)
    log_p = z - z.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    expected = -log_p[[0, 1], labels].mean() + 0.5 * (-log_p[2:].mean(axis=1)).mean()
    assert loss == pytest.approx(expected)
    assert grad[2:] == pytest.approx(0.5 * (softmax(z[2:]) - 0.1) / 3)
    eps = 1e-6
    for i, j in [(0, 3), (1, 0), (4, 9)]:
        dz = np.zeros_like(z)
        dz[i, j] = eps
        numeric = (exposure_loss(z + dz, labels, 0.5)[0] - exposure_loss(z - dz, labels, 0.5)[0]) / (2 * eps)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_without_outliers_it_is_plain_cross_entropy() -> None:
    z = np.random.default_rng(1).normal(size=(4, 10))
    loss, grad = exposure_loss(z, np.array([0, 1, 2, 3]), weight=0.5)
    assert grad.shape == z.shape and loss > 0


def test_the_pool_never_repeats_the_evaluation_images() -> None:
    pool = outlier_pool(("letters", "uniform"), 8, seed=0)
    assert pool.shape == (16, 28, 28) and pool.dtype == np.uint8
    assert not np.array_equal(pool[:8], make_set("letters", 8))
    with pytest.raises(ValueError, match="unknown"):
        outlier_pool(("faces",), 8, seed=0)


@pytest.mark.mnist
def test_a_short_run_becomes_unsure_of_noise(mnist: Mnist) -> None:
    quick = TrainConfig(arch="mlp", epochs=2, limit_train=2000, augment=False, seed=1, outlier_pool=100)
    confidence, passed = {}, {}
    for weight in (0.0, 0.5):
        config = replace(quick, outlier_weight=weight)
        model, metrics, _ = train(config, mnist, progress=False, log=lambda _: None)
        noise = normalise(make_set("uniform", 64), **metrics["normalisation"])
        confidence[weight] = float(softmax(model.predict_logits(noise)).max(axis=1).mean())
        assert metrics["test_accuracy"] >= 0.85, metrics["test_accuracy"]
        sets = metrics["ood"]["evaluation"]["sets"]  # what the recorded decision lets through
        passed[weight] = sets["blank"]["answered_as_digit"] + sets["uniform"]["answered_as_digit"]
    assert confidence[0.5] < 0.3 < confidence[0.0], confidence
    assert passed[0.5] < 0.1 < 1.0 < passed[0.0], passed  # shares of 2 sets: 0 to 2


@pytest.mark.mnist
@pytest.mark.parametrize("statistics", ["digits", "whole batch"])
def test_batchnorm_running_statistics_follow_what_normalised_the_digits(
        mnist: Mnist, monkeypatch: pytest.MonkeyPatch, statistics: str) -> None:
    """Inference normalises with the running statistics: with outlier exposure they must be the
    digits' own, as each batch's digits normalised them in training; computed over the whole batch
    (as before), the outliers pull them away."""
    if statistics == "whole batch":
        monkeypatch.setattr("training.train.digits_set_the_statistics", lambda model, digits: None)
    config = TrainConfig(arch="mlp", epochs=1, limit_train=4000, augment=False, seed=2, outlier_pool=100,
                         outlier_weight=0.5)
    model, metrics, _ = train(config, mnist, progress=False, log=lambda _: None)
    flatten, dense, batchnorm = model.layers[:3]
    assert isinstance(batchnorm, BatchNorm)

    def pre_norm(pixels: np.ndarray) -> np.ndarray:
        return dense.forward(flatten.forward(normalise(pixels, **metrics["normalisation"])))

    digits = pre_norm(mnist.train_images[:4000]).mean(axis=0)
    mixed = (2 * digits + pre_norm(outlier_pool(tuple(SETS), 20, seed=2)).mean(axis=0)) / 3  # 128 + 64
    off_digits = float(np.abs(batchnorm.running_mean - digits).mean())
    off_mixed = float(np.abs(batchnorm.running_mean - mixed).mean())
    assert (off_digits < off_mixed) == (statistics == "digits"), (off_digits, off_mixed)
