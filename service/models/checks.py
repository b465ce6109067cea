"""The checks a version passes before it serves: it loads (the artifact format's own checks), it
reads the shipped example digit right, and it records a test accuracy of at least
MNIST_MIN_ACCURACY. A version that fails one never reaches traffic; the error says which and why."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from neuralnet.artifact import ArtifactError
from service.models.loaded_model import LoadedModel

EXAMPLE_FILE = Path(__file__).resolve().parent.parent / "static" / "example_digit.json"


class LoadRefused(Exception):
    """A version that may not serve, and why (the message names the file)."""


@lru_cache
def example() -> dict[str, Any]:
    """The shipped example digit, `service/static/example_digit.json`: {"label": 7, "pixels": 28
    rows of 28 raw 0-255 values}, a real MNIST test digit (also the API documentation's example)."""
    data: dict[str, Any] = json.loads(EXAMPLE_FILE.read_text())
    return data


def example_digit() -> tuple[np.ndarray, int]:
    """The shipped example as (1, 784) float32 pixels, and its label."""
    data = example()
    return np.asarray(data["pixels"], np.float32).reshape(1, -1), int(data["label"])


def recorded_accuracy(model: LoadedModel) -> float | None:
    metrics = model.artifact.metadata.get("metrics")
    value = metrics.get("test_accuracy") if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def load_checked(path: Path, min_accuracy: float) -> LoadedModel:
    """The version at `path`, loaded and checked; LoadRefused says why it may not serve."""
    try:
        model = LoadedModel.load(path)
    except (ArtifactError, OSError) as exc:
        raise LoadRefused(f"{path}: cannot be loaded: {exc}") from None
    accuracy = recorded_accuracy(model)
    if accuracy is None:
        raise LoadRefused(f"{path}: records no test accuracy (metadata metrics.test_accuracy)")
    if accuracy < min_accuracy:
        raise LoadRefused(f"{path}: recorded test accuracy {accuracy:.2%} is below the minimum "
                          f"{min_accuracy:.2%} (MNIST_MIN_ACCURACY)")
    pixels, label = example_digit()
    digit = int(model.predict(pixels).digits[0])
    if digit != label:
        raise LoadRefused(f"{path}: answers {digit} for the example digit, a {label} "
                          "(service/static/example_digit.json)")
    return model
