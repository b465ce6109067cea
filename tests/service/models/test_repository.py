"""service.models.repository: which models and versions a weights folder holds, and which one to load."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from neuralnet.artifact import METADATA_KEY, ArtifactError
from service.models.repository import available_models, best_model, resolve

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
    assert resolve(tmp_path, "m", "latest") == tmp_path / "m" / "11.npz"


def test_resolve_latest_and_pinned(weights: Path) -> None:
    assert resolve(weights, "alpha", "latest") == weights / "alpha" / "2.npz"
    assert resolve(weights, "alpha", "1") == weights / "alpha" / "1.npz"
    assert resolve(weights, "beta", "latest") == weights / "beta" / "1.npz"


def test_resolve_without_a_model_takes_the_best(weights: Path) -> None:
    assert resolve(weights, None, "latest") == weights / "beta" / "1.npz"


@pytest.mark.parametrize("name", ["gamma", "empty-model", "Upper"])
def test_resolve_a_missing_model_names_the_path(weights: Path, name: str) -> None:
    with pytest.raises(ArtifactError) as excinfo:
        resolve(weights, name, "latest")
    assert str(weights / name) in str(excinfo.value)
    assert "no versions" in str(excinfo.value)


def test_resolve_a_missing_version_names_the_path_and_what_exists(weights: Path) -> None:
    with pytest.raises(ArtifactError) as excinfo:
        resolve(weights, "alpha", "3")
    message = str(excinfo.value)
    assert str(weights / "alpha" / "3.npz") in message
    assert "[1, 2]" in message


def test_best_model_compares_the_latest_versions(tmp_path: Path, make_artifact: MakeArtifact) -> None:
    make_artifact(tmp_path, "alpha", test_accuracy=0.99)
    make_artifact(tmp_path, "alpha", test_accuracy=0.90)  # the latest alpha is worse
    make_artifact(tmp_path, "beta", test_accuracy=0.95)
    assert best_model(tmp_path) == "beta"


def test_best_model_skips_unreadable_artifacts(tmp_path: Path, make_artifact: MakeArtifact) -> None:
    make_artifact(tmp_path, "good", test_accuracy=0.5)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "1.npz").write_bytes(b"not a zip")
    assert best_model(tmp_path) == "good"


def write_metadata_only_artifact(path: Path, test_accuracy: float) -> None:
    """An .npz whose `__metadata__` is valid but whose one array is truncated (unreadable)."""
    meta = {"model_name": path.parent.name, "metrics": {"test_accuracy": test_accuracy}}
    path.parent.mkdir(parents=True)
    np.savez(path, **{METADATA_KEY: np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    array = io.BytesIO()
    np.save(array, np.zeros((784, 16), np.float32))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("layers.0.W.npy", array.getvalue()[:200])


def test_best_model_reads_only_the_metadata(tmp_path: Path, make_artifact: MakeArtifact) -> None:
    """Ranking reads each latest version's `__metadata__` entry, never its arrays: a file with good
    metadata and a broken array still ranks by its recorded accuracy (loading it would fail)."""
    make_artifact(tmp_path, "good", test_accuracy=0.9)
    write_metadata_only_artifact(tmp_path / "lazy" / "1.npz", test_accuracy=0.99)
    with np.load(tmp_path / "lazy" / "1.npz", allow_pickle=False) as npz, pytest.raises(ValueError):
        npz["layers.0.W"]  # what reading the arrays would meet
    assert best_model(tmp_path) == "lazy"
    write_metadata_only_artifact(tmp_path / "worse" / "1.npz", test_accuracy=0.5)
    assert best_model(tmp_path) == "lazy"


def test_best_model_without_recorded_accuracy_loses(tmp_path: Path, make_artifact: MakeArtifact) -> None:
    make_artifact(tmp_path, "aaa", test_accuracy=0.0)
    make_artifact(tmp_path, "zzz", test_accuracy=0.1)
    assert best_model(tmp_path) == "zzz"


def test_best_model_of_an_empty_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as excinfo:
        best_model(tmp_path)
    assert str(tmp_path) in str(excinfo.value)
    with pytest.raises(ArtifactError):
        resolve(tmp_path, None, "latest")


def test_shipped_weights(weights_dir: Path) -> None:
    models = available_models(weights_dir)
    assert 1 in models["mnist-mlp"] and 1 in models["mnist-cnn"]
    assert best_model(weights_dir) == "mnist-cnn"
    assert resolve(weights_dir, "mnist-mlp", "1") == weights_dir / "mnist-mlp" / "1.npz"
