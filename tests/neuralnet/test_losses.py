"""Softmax cross-entropy: gradient, numerical stability, one_hot."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.gradcheck import numerical_gradient, relative_error
from neuralnet.losses import log_softmax, one_hot, softmax, softmax_cross_entropy


@pytest.mark.parametrize("soft", [False, True])
def test_gradient_matches_central_differences(soft: bool) -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 10)) * 3.0
    if soft:
        targets = rng.random((4, 10))
        targets /= targets.sum(axis=1, keepdims=True)
    else:
        targets = one_hot(rng.integers(0, 10, 4), 10, np.float64)
    _, grad = softmax_cross_entropy(logits, targets)
    assert grad.shape == logits.shape and grad.dtype == np.float64
    numeric = numerical_gradient(lambda: softmax_cross_entropy(logits, targets)[0], logits)
    assert relative_error(grad, numeric) < 1e-6


def test_loss_value_matches_definition() -> None:
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 5))
    labels = np.array([0, 4, 2])
    loss, _ = softmax_cross_entropy(logits, one_hot(labels, 5, np.float64))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(3), labels])), rel=1e-12)


def test_huge_logits_are_stable() -> None:
    logits = np.array([[1000.0, -1000.0], [1000.0, -1000.0], [-1000.0, 1000.0]])
    targets = one_hot(np.array([0, 1, 1]), 2, np.float64)
    loss, grad = softmax_cross_entropy(logits, targets)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    # rows 0 and 2 are right (loss 0), row 1 is wrong by a margin of 2000
    assert loss == pytest.approx(2000.0 / 3, rel=1e-12)
    np.testing.assert_allclose(grad, [[0, 0], [1 / 3, -1 / 3], [0, 0]], atol=1e-12)
    assert np.all(np.isfinite(log_softmax(logits)))
    np.testing.assert_allclose(softmax(logits).sum(axis=1), 1.0)


def test_huge_logits_float32() -> None:
    logits = np.array([[1e4, 0.0, -1e4]], np.float32)
    loss, grad = softmax_cross_entropy(logits, one_hot(np.array([0]), 3))
    assert np.isfinite(loss) and loss == pytest.approx(0.0, abs=1e-6)
    assert grad.dtype == np.float32 and np.all(np.isfinite(grad))


def test_perfect_prediction_has_near_zero_loss() -> None:
    labels = np.array([3, 7, 0])
    logits = one_hot(labels, 10, np.float64) * 50.0
    loss, grad = softmax_cross_entropy(logits, one_hot(labels, 10, np.float64))
    assert 0.0 <= loss < 1e-15
    assert np.abs(grad).max() < 1e-15


def test_uniform_prediction_loss_is_log_k() -> None:
    loss, _ = softmax_cross_entropy(np.zeros((2, 10)), one_hot(np.array([1, 2]), 10, np.float64))
    assert loss == pytest.approx(np.log(10), rel=1e-12)


def test_one_hot() -> None:
    out = one_hot(np.array([0, 3, 9, 3]))
    assert out.shape == (4, 10) and out.dtype == np.float32
    np.testing.assert_array_equal(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out.argmax(axis=1), [0, 3, 9, 3])
    small = one_hot(np.array([2, 0]), num_classes=3, dtype=np.float64)
    assert small.dtype == np.float64
    np.testing.assert_array_equal(small, [[0, 0, 1], [1, 0, 0]])
    assert one_hot(np.array([], dtype=int)).shape == (0, 10)
