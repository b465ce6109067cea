"""The shipped artifacts: loadable, and as accurate on the real test set as their metadata says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuralnet.artifact import list_versions, load_artifact
from neuralnet.network import Sequential
from neuralnet.preprocess import normalise
from training.data import Mnist

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
# The accuracy each shipped model must reach (the project's targets).
SHIPPED = {"mnist-mlp": 0.988, "mnist-cnn": 0.995}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_exists_with_version_1(name: str) -> None:
    assert 1 in list_versions(WEIGHTS / name)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_matches_its_recorded_test_accuracy(name: str, mnist: Mnist) -> None:
    artifact = load_artifact(WEIGHTS / name / "1.npz")
    meta = artifact.metadata
    model = Sequential.from_artifact(artifact)
    x = normalise(mnist.test_images, meta["input"]["mean"], meta["input"]["std"])
    accuracy = float((model.predict_logits(x).argmax(axis=1) == mnist.test_labels).mean())
    # Re-scoring must reproduce the recorded figure (to within one image of float noise).
    assert abs(accuracy - meta["metrics"]["test_accuracy"]) <= 1e-4 + 1e-12
    assert accuracy >= SHIPPED[name], f"{name}: {accuracy:.4f} below the target {SHIPPED[name]}"
    assert np.isfinite(meta["metrics"]["test_loss"])
