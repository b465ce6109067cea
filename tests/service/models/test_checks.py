"""service.models.checks: a version serves only when it loads, records enough accuracy and reads
the shipped example digit right; otherwise LoadRefused names the file and the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.models.checks import LoadRefused, example_digit, load_checked
from service.models.loaded_model import LoadedModel
from testkit.artifacts import shipped_copy, tiny_artifact


def test_a_shipped_version_passes(tmp_path: Path) -> None:
    path = shipped_copy(tmp_path, 1)
    assert load_checked(path, 0.98).version == 1


def refusal(path: Path, min_accuracy: float = 0.98) -> str:
    with pytest.raises(LoadRefused) as excinfo:
        load_checked(path, min_accuracy)
    message = str(excinfo.value)
    assert str(path) in message
    return message


def test_a_file_that_does_not_load_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m" / "1.npz"
    path.parent.mkdir()
    path.write_bytes(b"not a zip")
    assert "cannot be loaded" in refusal(path)


def test_too_little_or_no_recorded_accuracy_is_refused(tmp_path: Path) -> None:
    assert "below the minimum 98.00%" in refusal(shipped_copy(tmp_path, 2, test_accuracy=0.9))
    assert "records no test accuracy" in refusal(shipped_copy(tmp_path, 3, test_accuracy=None))


def test_a_version_that_misreads_the_example_is_refused(tmp_path: Path) -> None:
    pixels, label = example_digit()
    # an untrained network that records a high accuracy: pick a seed whose answer is not the label
    seed = next(s for s in range(50) if LoadedModel.load(
        tiny_artifact(tmp_path / f"probe{s}", seed=s)).predict(pixels).digits[0] != label)
    path = tiny_artifact(tmp_path, seed=seed, test_accuracy=0.99)
    digit = int(np.asarray(LoadedModel.load(path).predict(pixels).digits)[0])
    assert f"answers {digit} for the example digit, a {label}" in refusal(path)
