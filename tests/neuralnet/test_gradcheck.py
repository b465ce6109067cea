"""neuralnet.gradcheck: central differences agree with known derivatives and catch wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.gradcheck import numerical_gradient, relative_error
from neuralnet.layers import Dense


def test_matches_a_known_derivative_and_restores_the_array() -> None:
    p = np.random.default_rng(0).standard_normal((3, 4))
    before = p.copy()
    numeric = numerical_gradient(lambda: float(np.sum(np.sin(p) * p**2)), p)
    assert numeric.shape == p.shape
    np.testing.assert_allclose(numeric, np.cos(before) * before**2 + 2 * before * np.sin(before),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(p, before)


def test_selected_flat_indices_only() -> None:
    p = np.arange(12, dtype=np.float64).reshape(3, 4)
    calls = 0

    def loss() -> float:
        nonlocal calls
        calls += 1
        return float(np.sum(p**2))

    numeric = numerical_gradient(loss, p, indices=[0, 5, 11])
    np.testing.assert_allclose(numeric, [0.0, 10.0, 22.0], atol=1e-6)
    assert calls == 6  # two evaluations per index, not per entry


def test_restores_the_entry_when_the_loss_raises() -> None:
    p = np.ones(3)

    def loss() -> float:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        numerical_gradient(loss, p, indices=[1])
    np.testing.assert_array_equal(p, np.ones(3))


def test_refuses_float32_and_copies() -> None:
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(lambda: 0.0, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="without a copy"):
        numerical_gradient(lambda: 0.0, np.ones((4, 4))[:3, :3])


def test_relative_error_scale() -> None:
    a = np.array([1.0, -2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(a, -a) == pytest.approx(1.0)
    assert relative_error(a, np.zeros(3)) == pytest.approx(1.0)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a, a * (1 + 1e-8)) == pytest.approx(5e-9, rel=1e-3)
    with pytest.raises(ValueError):
        relative_error(a, a[:2])


def test_catches_a_wrong_backward_and_passes_the_right_one() -> None:
    rng = np.random.default_rng(1)
    layer = Dense(4, 3, rng)
    layer.astype(np.float64)
    x = rng.standard_normal((5, 4))
    R = rng.standard_normal((5, 3))

    def loss() -> float:
        return float(np.sum(layer.forward(x) * R))

    layer.forward(x, keep=True)
    layer.backward(R)
    W = layer.params["W"]
    numeric = numerical_gradient(loss, W, indices=[0, 4, 11])
    analytic = layer.grads["W"].reshape(-1)[[0, 4, 11]]
    assert relative_error(analytic, numeric) < 1e-8
    # dW = x^T g; forgetting the transpose or the batch sum shows up at once
    wrong = (x[:1].T @ R[:1]).reshape(-1)[[0, 4, 11]]
    assert relative_error(wrong, numeric) > 1e-2
