"""The checks a version passes before it serves, at start-up, on a repository load and in watch
mode alike. A version that fails one never reaches traffic; the error says which and why.

- It loads: the artifact format's own checks, within a budget (neuralnet/artifact.py).
- It is what its path says: the recorded model name and version agree with `<model>/<n>.npz`.
- It takes the 784 pixels of an image, and records a test accuracy of at least MNIST_MIN_ACCURACY.
- It is measured, not believed: on the shipped labelled digits (service/static/gate_digits.npz,
  MNIST test digits) its accuracy must reach MNIST_MIN_ACCURACY and agree with the recorded one
  within ACCURACY_MARGIN; a model with a "not a digit" decision must accept those digits at about
  the rate it records (DECISION_MARGIN) and refuse a blank image and one of noise.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from neuralnet.artifact import ArtifactError
from service.models.loaded_model import LoadedModel

STATIC = Path(__file__).resolve().parent.parent / "static"
EXAMPLE_FILE = STATIC / "example_digit.json"
GATE_FILE = STATIC / "gate_digits.npz"  # written by testkit/gate_digits.py; MNIST, CC BY-SA 3.0
PIXELS = 784
# Measured on the gate's 500 digits, an accuracy near 98 % has a standard error of about 0.6
# points: 2 points is over three of them, and far less than a model that only claims to be good
# misses by.
ACCURACY_MARGIN = 0.02
DECISION_MARGIN = 0.02  # the share of gate digits the decision accepts, against the recorded share
NOISE_SEED = 0


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


@lru_cache
def gate_digits() -> tuple[np.ndarray, np.ndarray]:
    """The gate's labelled digits: (N, 784) float32 raw 0-255 pixels and (N,) labels."""
    with np.load(GATE_FILE, allow_pickle=False) as data:
        images, labels = data["images"], data["labels"]
    return images.reshape(len(images), PIXELS).astype(np.float32), labels.astype(np.int64)


def not_digits() -> np.ndarray:
    """A blank image and one of uniform noise, (2, 784): no model should call either a digit."""
    noise = np.random.default_rng(NOISE_SEED).integers(0, 256, PIXELS).astype(np.float32)
    return np.stack([np.zeros(PIXELS, np.float32), noise])


def _share(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok and 0 <= value <= 1 else None


def recorded_accuracy(model: LoadedModel) -> float | None:
    metrics = model.artifact.metadata.get("metrics")
    return _share(metrics.get("test_accuracy")) if isinstance(metrics, dict) else None


def recorded_acceptance(model: LoadedModel) -> float | None:
    """The share of test digits the "not a digit" decision accepts, as the artifact records it."""
    ood = model.artifact.metadata.get("ood")
    if not isinstance(ood, dict):
        return None
    recorded = _share(ood.get("test_accepted"))
    return recorded if recorded is not None else _share(ood.get("validation_accepted"))


def check_identity(model: LoadedModel, path: Path) -> None:
    """The recorded model name and version are the ones its path gives."""
    meta = model.artifact.metadata
    name, version = meta.get("model_name"), meta.get("version")
    if name != path.parent.name or f"{version}.npz" != path.name:
        raise LoadRefused(f"{path}: records model {name!r} version {version!r}, but its path says "
                          f"model {path.parent.name!r} version {path.stem!r}; an artifact is served "
                          "under the name and version it was written as")


def measure(model: LoadedModel, path: Path, min_accuracy: float, recorded: float) -> None:
    """The gate's measurements (module docstring); LoadRefused says which failed."""
    images, labels = gate_digits()
    try:
        answered = model.predict(images)
        outsiders = model.predict(not_digits())
    except (ValueError, ArithmeticError) as exc:  # shapes the checks let through, overflow
        raise LoadRefused(f"{path}: fails on the gate digits ({exc})") from None
    if not np.isfinite(answered.proba).all():
        raise LoadRefused(f"{path}: answers NaN or infinite probabilities for the gate digits")
    measured = float((answered.digits == labels).mean())
    where = f"on {len(labels)} MNIST test digits ({GATE_FILE.name})"
    if measured < min_accuracy:
        raise LoadRefused(f"{path}: measured accuracy {measured:.2%} {where} is below the minimum "
                          f"{min_accuracy:.2%} (MNIST_MIN_ACCURACY)")
    if abs(measured - recorded) > ACCURACY_MARGIN:
        raise LoadRefused(f"{path}: measured accuracy {measured:.2%} {where} disagrees with the recorded "
                          f"test accuracy {recorded:.2%} by more than {ACCURACY_MARGIN:.0%}")
    if answered.is_digit is None or outsiders.is_digit is None:
        return  # no "not a digit" decision to check
    accepted = float(answered.is_digit.mean())
    expected = recorded_acceptance(model)
    if expected is not None and abs(accepted - expected) > DECISION_MARGIN:
        raise LoadRefused(f"{path}: its \"not a digit\" decision accepts {accepted:.2%} of the digits "
                          f"{where}, the artifact records {expected:.2%}")
    for what, is_digit in zip(("a blank image", "an image of noise"), outsiders.is_digit.tolist(),
                              strict=True):
        if is_digit:
            raise LoadRefused(f"{path}: its \"not a digit\" decision calls {what} a digit")


def load_checked(path: Path, min_accuracy: float) -> LoadedModel:
    """The version at `path`, loaded and checked; LoadRefused says why it may not serve."""
    try:
        model = LoadedModel.load(path)  # its first forward pass too: a misfit raises ValueError
    except (ArtifactError, OSError, ValueError, ArithmeticError) as exc:
        raise LoadRefused(f"{path}: cannot be loaded: {exc}") from None
    check_identity(model, path)
    shape = model.inference.input_shape
    if math.prod(shape) != PIXELS:
        raise LoadRefused(f"{path}: its input shape {list(shape)} does not take the {PIXELS} pixels of "
                          "an MNIST image")
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
    measure(model, path, min_accuracy, accuracy)
    return model
