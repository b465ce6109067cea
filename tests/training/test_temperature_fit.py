"""Temperature fitting and the calibration measures of the training report."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.calibration import calibrated_logits
from neuralnet.losses import softmax
from training.calibration import calibrate, calibration_measures, fit_temperature


def sampled(n: int, temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits z and labels drawn from softmax(z / temperature): T = temperature is the right answer."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 10)) * 3
    p = softmax(z / temperature)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return z, labels


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_fit_recovers_the_temperature_the_labels_were_drawn_with(temperature: float) -> None:
    z, labels = sampled(20000, temperature)
    assert fit_temperature(z, labels) == pytest.approx(temperature, rel=0.05)


def test_fit_minimises_the_nll() -> None:
    z, labels = sampled(3000, 1.7, seed=1)
    best = fit_temperature(z, labels)
    nll = calibration_measures(z, labels, best)["nll"]
    for other in (best * 0.9, best * 1.1):
        assert calibration_measures(z, labels, other)["nll"] > nll


def test_measures_on_a_case_worked_by_hand() -> None:
    z = np.log(np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]]))
    labels = np.array([0, 1, 0, 1])
    got = calibration_measures(z, labels, bins=10)
    # bins of the top probability: 0.9 (right), 0.6 (wrong), 0.7 (right), 0.8 (right)
    assert got["ece"] == pytest.approx((0.1 + 0.6 + 0.3 + 0.2) / 4)
    assert got["nll"] == pytest.approx(-np.log([0.9, 0.4, 0.7, 0.8]).mean())
    assert got["brier"] == pytest.approx((2 * 0.01 + 2 * 0.36 + 2 * 0.09 + 2 * 0.04) / 4)


def test_calibrate_keeps_the_logits_scale_that_says_no_idea() -> None:
    # logits whose scale varies per example but whose direction carries the answer: the normalised
    # form fits these digits better, yet it would make a near-uniform answer (a blank image's small,
    # almost equal logits) confident; the plain temperature is kept
    z, labels = sampled(8000, 1.0, seed=2)
    unit = calibrated_logits(z, "normalised_temperature", 1.0)
    scaled = unit * np.random.default_rng(5).uniform(2, 40, size=(len(z), 1)) * 8
    half = len(z) // 2
    record = calibrate(scaled[:half], labels[:half], scaled[half:], labels[half:])
    assert record["method"] == "temperature"
    nll = {method: figures["validation_nll"] for method, figures in record["candidates"].items()}
    assert nll["normalised_temperature"] < nll["temperature"]
    unsure = np.array([[0.02, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    for method, figures in record["candidates"].items():
        top = softmax(calibrated_logits(unsure, method, figures["temperature"])).max()
        assert (top < 0.2) == (method == "temperature"), (method, top)
    assert record["test_after"]["nll"] < record["test_before"]["nll"]


def test_a_temperature_that_would_raise_the_validation_ece_is_not_applied() -> None:
    # labels drawn from the logits' own softmax: calibrated already; the NLL fit lands near 1, and
    # on this draw it would double the ECE
    z, labels = sampled(2000, 1.0, seed=6)
    record = calibrate(z, labels, z, labels)
    fitted = record["candidates"]["temperature"]["temperature"]
    assert fitted != 1.0
    assert calibration_measures(z, labels, fitted)["ece"] > record["validation_before"]["ece"]
    assert record["temperature"] == 1.0
    assert record["validation_after"] == record["validation_before"]
    assert "did not lower the validation ECE" in record["chosen_by"]


def test_a_temperature_that_lowers_the_validation_ece_is_applied() -> None:
    z, labels = sampled(3000, 2.0, seed=1)  # overconfident logits: T near 2 is right
    record = calibrate(z, labels, z, labels)
    assert record["temperature"] == record["candidates"]["temperature"]["temperature"] > 1.5
    assert record["validation_after"]["ece"] < record["validation_before"]["ece"]
