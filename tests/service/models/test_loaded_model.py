"""service.models.loaded_model: one loaded version's predictions (calibrated, with its "not a
digit" decision when it has one) and what it reports about itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralnet.losses import softmax
from service.models.checks import example_digit
from service.models.loaded_model import LoadedModel
from testkit.artifacts import tiny_artifact

BLANK = np.zeros((1, 784), np.float32)


def test_shipped_version_answers_the_example_with_its_decision(weights_dir: Path) -> None:
    model = LoadedModel.load(weights_dir / "mnist-cnn" / "2.npz")
    pixels, label = example_digit()
    answered = model.predict(np.vstack([pixels, BLANK]))
    assert answered.digits.tolist()[0] == label
    assert answered.is_digit is not None and answered.is_digit.tolist() == [True, False]
    assert answered.scores is not None and answered.scores[0] > answered.scores[1]
    np.testing.assert_allclose(answered.proba.sum(axis=1), 1.0, rtol=1e-5)
    # calibrated: the probabilities are not the plain softmax of the logits
    plain = softmax(model.inference.logits(pixels))
    assert model.calibration is not None and not np.allclose(plain, answered.proba[:1])


def test_a_version_without_calibration_or_decision_answers_plain_softmax(tmp_path: Path) -> None:
    model = LoadedModel.load(tiny_artifact(tmp_path, version=1))
    answered = model.predict(BLANK)
    assert answered.is_digit is None and answered.scores is None and not model.has_decision
    np.testing.assert_allclose(answered.proba, softmax(model.inference.logits(BLANK)), rtol=1e-6)


def test_it_describes_itself_and_its_cost_grows_with_the_batch(tmp_path: Path) -> None:
    path = tiny_artifact(tmp_path, version=4, test_accuracy=0.42)
    model = LoadedModel.load(path)
    info = model.describe()
    assert (info["name"], info["version"], info["path"]) == ("tiny-mlp", 4, str(path))
    assert info["metrics"]["test_accuracy"] == 0.42 and info["ood"] is None
    assert info["parameter_count"] == sum(a.size for a in model.artifact.arrays.values())
    assert len(info["sha256"]) == 64
    assert 0 < model.forward_seconds(1) < model.forward_seconds(64)
