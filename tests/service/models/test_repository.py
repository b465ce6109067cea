"""service.models.repository: which models and versions a weights folder holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from service.models.repository import available_models

MakeArtifact = Callable[..., Path]  # the `make_artifact` fixture (conftest.py)


@pytest.fixture
def weights(tmp_path: Path, make_artifact: MakeArtifact) -> Path:
    """alpha v1, v2 (accuracy 0.95, 0.96); beta v1 (0.97); and things that are not models."""
    make_artifact(tmp_path, "alpha", test_accuracy=0.95)
    make_artifact(tmp_path, "alpha", test_accuracy=0.96)
    make_artifact(tmp_path, "beta", test_accuracy=0.97)
    (tmp_path / "alpha" / "1-report").mkdir()
    (tmp_path / "alpha" / "2-report").mkdir()
    (tmp_path / "alpha" / "notes.txt").write_text("x")
    (tmp_path / "alpha" / "01.npz").write_bytes(b"leading zero: not a version")
    (tmp_path / "alpha" / ".3.abc.tmp").write_bytes(b"half-written")
    (tmp_path / "empty-model").mkdir()
    (tmp_path / "Upper").mkdir()
    (tmp_path / "Upper" / "1.npz").write_bytes(b"bad model name")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "loose.npz").write_bytes(b"not in a model folder")
    return tmp_path


def test_available_models_lists_model_folders_with_versions(weights: Path) -> None:
    assert available_models(weights) == {"alpha": [1, 2], "beta": [1]}


def test_available_models_of_a_missing_or_empty_folder(tmp_path: Path) -> None:
    assert available_models(tmp_path / "nowhere") == {}
    assert available_models(tmp_path) == {}


def test_versions_sort_numerically(tmp_path: Path, make_artifact: MakeArtifact) -> None:
    for version in (10, 2, 1, 11):
        make_artifact(tmp_path, "m", version=version)
    assert available_models(tmp_path) == {"m": [1, 2, 10, 11]}


def test_shipped_weights(weights_dir: Path) -> None:
    models = available_models(weights_dir)
    assert 1 in models["mnist-mlp"] and 1 in models["mnist-cnn"]

