"""The calibration transforms an artifact names, as the service applies them."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.calibration import calibrated_logits, calibration_of
from neuralnet.losses import softmax

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("method", ["temperature", "normalised_temperature"])
def test_no_method_changes_the_predicted_class(method: str) -> None:
    z = RNG.normal(size=(50, 10)).astype(np.float32) * 4
    assert (calibrated_logits(z, method, 0.4).argmax(axis=1) == z.argmax(axis=1)).all()


def test_temperature_divides_the_logits() -> None:
    z = np.array([[2.0, 0.0, -1.0]])
    np.testing.assert_allclose(calibrated_logits(z, "temperature", 2.0), [[1.0, 0.0, -0.5]])


def test_normalised_temperature_ignores_each_answers_scale_and_shift() -> None:
    z = RNG.normal(size=(4, 10))
    scaled = 7.5 * z + 3.0  # the same direction, larger and shifted
    np.testing.assert_allclose(softmax(calibrated_logits(z, "normalised_temperature", 0.2)),
                               softmax(calibrated_logits(scaled, "normalised_temperature", 0.2)), rtol=1e-6)
    u = calibrated_logits(z, "normalised_temperature", 1.0)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(u.mean(axis=1), 0.0, atol=1e-7)


def test_equal_logits_give_uniform_probabilities_not_nan() -> None:
    p = softmax(calibrated_logits(np.full((2, 10), 3.0, np.float32), "normalised_temperature", 0.1))
    np.testing.assert_allclose(p, 0.1, rtol=1e-6)


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown calibration method 'platt'"):
        calibrated_logits(np.zeros((1, 10)), "platt", 1.0)


@pytest.mark.parametrize(("record", "expected"), [
    ({"method": "temperature", "temperature": 0.5}, ("temperature", 0.5)),
    ({"method": "normalised_temperature", "temperature": 0.1}, ("normalised_temperature", 0.1)),
    (None, None),
    ({"method": "temperature"}, None),
    ({"method": "temperature", "temperature": 0}, None),
    ({"method": "temperature", "temperature": True}, None),
    ({"method": "isotonic", "temperature": 1.0}, None),
    ("temperature", None),
])
def test_calibration_of_reads_only_what_it_knows(record: object, expected: object) -> None:
    assert calibration_of({"calibration": record} if record is not None else {}) == expected
