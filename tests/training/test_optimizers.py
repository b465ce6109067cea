"""Optimizers (SGD momentum, Adam, decoupled weight decay) and learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.optimizers import SGD, Adam, Optimizer, decays, make_optimizer, make_schedule

CURVATURE = np.array([1.0, 4.0, 0.5, 2.0])


def quadratic(p: np.ndarray) -> tuple[float, np.ndarray]:
    """f(p) = 1/2 sum a p^2, minimum 0 at p = 0."""
    return float(0.5 * np.sum(CURVATURE * p * p)), CURVATURE * p


def run(opt: Optimizer, steps: int) -> tuple[float, float]:
    p = np.array([1.0, -2.0, 3.0, 0.5])
    start, _ = quadratic(p)
    for _ in range(steps):
        _, g = quadratic(p)
        opt.step([("layers.0.W", p, g)])
    end, _ = quadratic(p)
    return start, end


@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_momentum_minimises_quadratic(nesterov: bool) -> None:
    start, end = run(SGD(lr=0.05, momentum=0.9, nesterov=nesterov), 200)
    assert end < 1e-6 * start


def test_plain_sgd_minimises_quadratic() -> None:
    start, end = run(SGD(lr=0.1, momentum=0.0), 200)
    assert end < 1e-6 * start


def test_adam_minimises_quadratic() -> None:
    start, end = run(Adam(lr=0.05), 500)
    assert end < 1e-4 * start


def test_sgd_first_steps_follow_the_update_rule() -> None:
    g = np.array([1.0, -2.0])
    # Nesterov: v = g, p -= lr (g + mu v)
    p = np.zeros(2)
    SGD(lr=0.1, momentum=0.9, nesterov=True).step([("a.W", p, g)])
    np.testing.assert_allclose(p, -0.1 * 1.9 * g)
    # heavy ball: two steps with the same gradient: v1 = g, v2 = 1.9 g
    p = np.zeros(2)
    opt = SGD(lr=0.1, momentum=0.9, nesterov=False)
    opt.step([("a.W", p, g)])
    np.testing.assert_allclose(p, -0.1 * g)
    opt.step([("a.W", p, g)])
    np.testing.assert_allclose(p, -0.1 * g - 0.1 * 1.9 * g)


def test_adam_first_step_magnitude_equals_lr() -> None:
    p = np.zeros(4)
    g = np.array([3.0, -0.5, 150.0, -1.0])  # very different scales, same step size
    Adam(lr=0.01).step([("layers.0.W", p, g)])
    np.testing.assert_allclose(p, -0.01 * np.sign(g), rtol=1e-5)


def test_adam_float32_params_stay_float32() -> None:
    p = np.ones(3, np.float32)
    Adam(lr=0.1).step([("x.W", p, np.ones(3, np.float32))])
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, 0.9, rtol=1e-5)


def test_explicit_lr_overrides_base_lr() -> None:
    p = np.zeros(1)
    SGD(lr=1.0, momentum=0.0).step([("x.W", p, np.ones(1))], lr=0.25)
    np.testing.assert_allclose(p, [-0.25])


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_weight_decay_applies_to_weights_only(opt_name: str) -> None:
    opt = make_optimizer(opt_name, lr=0.5, weight_decay=0.1)
    W, b, gamma = np.full(3, 2.0), np.full(3, 2.0), np.full(3, 2.0)
    zero = np.zeros(3)
    opt.step([("layers.0.W", W, zero), ("layers.0.b", b, zero), ("layers.1.gamma", gamma, zero)])
    np.testing.assert_allclose(W, 2.0 * (1 - 0.5 * 0.1))
    np.testing.assert_array_equal(b, 2.0)
    np.testing.assert_array_equal(gamma, 2.0)


def test_no_weight_decay_by_default() -> None:
    W = np.full(3, 2.0)
    SGD(lr=0.5).step([("layers.0.W", W, np.zeros(3))])
    np.testing.assert_array_equal(W, 2.0)


def test_decays_names() -> None:
    assert decays("layers.3.W")
    assert not decays("layers.3.b")
    assert not decays("layers.4.gamma")
    assert not decays("layers.4.beta")


def test_make_optimizer() -> None:
    adam = make_optimizer("adam", lr=0.003, weight_decay=0.01)
    assert isinstance(adam, Adam)
    assert adam.config()["lr"] == 0.003 and adam.config()["weight_decay"] == 0.01
    sgd = make_optimizer("sgd", lr=0.1, momentum=0.8)
    assert isinstance(sgd, SGD)
    assert sgd.config() == {"name": "sgd", "lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.0}
    with pytest.raises(ValueError, match="rmsprop"):
        make_optimizer("rmsprop", lr=0.1)


def test_unknown_schedule_raises() -> None:
    with pytest.raises(ValueError, match="linear"):
        make_schedule("linear", 0.1, 100)


def test_constant_schedule() -> None:
    lr = make_schedule("constant", 0.02, 100)
    assert lr(0) == lr(50) == lr(99) == 0.02


def test_cosine_schedule_warmup_and_decay() -> None:
    base, total, warm = 0.1, 110, 10
    lr = make_schedule("cosine", base, total, warmup_steps=warm)
    assert lr(0) == pytest.approx(base / warm)
    warmup = [lr(s) for s in range(warm)]
    assert np.all(np.diff(warmup) > 0)
    assert lr(warm - 1) == pytest.approx(base)
    assert lr(warm) == pytest.approx(base)
    assert lr(warm + 50) == pytest.approx(base / 2)
    assert lr(total) == pytest.approx(0.0, abs=1e-12)
    decay = [lr(s) for s in range(warm, total + 1)]
    assert np.all(np.diff(decay) <= 0)
    assert 0 < lr(total - 1) < 0.001 * base
    assert max(lr(s) for s in range(total)) == pytest.approx(base)


def test_cosine_schedule_without_warmup() -> None:
    lr = make_schedule("cosine", 0.1, 100)
    assert lr(0) == pytest.approx(0.1)
    assert lr(100) == pytest.approx(0.0, abs=1e-12)


def test_onecycle_schedule_peaks_at_lr() -> None:
    base, total = 0.4, 200
    lr = make_schedule("onecycle", base, total)
    values = [lr(s) for s in range(total + 1)]
    assert lr(0) == pytest.approx(base / 25)
    peak_step = int(np.argmax(values))
    assert values[peak_step] == pytest.approx(base)
    assert peak_step == 50
    assert all(v <= base * (1 + 1e-12) for v in values)
    assert np.all(np.diff(values[:51]) > 0)
    assert np.all(np.diff(values[50:]) <= 0)
    assert lr(total) == pytest.approx(base * 1e-3)
    assert math.isfinite(lr(10 * total))
