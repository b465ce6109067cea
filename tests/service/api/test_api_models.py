"""GET /v1/model and /v1/models, and which artifact the settings make the service load."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from neuralnet.artifact import METADATA_KEY, ArtifactError, load_artifact
from service.config import Settings
from service.main import create_app
from testkit.artifacts import shipped_copy
from testkit.shipped import newest_shipped, served_ref


def serve(weights_dir: Path, **settings: Any) -> dict[str, Any]:
    """Start an app on `weights_dir`; return its /v1/model and /v1/models answers and a prediction."""
    with TestClient(create_app(Settings(weights_dir=weights_dir, **settings))) as c:
        model, models = c.get("/v1/model"), c.get("/v1/models")
        predicted = c.post("/v1/predict", json={"pixels": [0] * 784})
    assert model.status_code == models.status_code == predicted.status_code == 200
    return {"model": model.json(), "models": models.json(), "predicted": predicted.json()}


def test_model_description(client: TestClient, weights_dir: Path) -> None:
    version = newest_shipped("mnist-mlp")
    path = weights_dir / "mnist-mlp" / f"{version}.npz"
    meta = load_artifact(path).metadata
    with np.load(path, allow_pickle=False) as npz:
        sizes = [npz[k].size for k in npz.files if k != METADATA_KEY]
    before = datetime.now(UTC)

    response = client.get("/v1/model")
    assert response.status_code == 200
    info = response.json()
    assert info["name"] == "mnist-mlp"
    assert info["version"] == version
    assert info["architecture"] == meta["architecture"]
    assert info["architecture_summary"] == " -> ".join(layer["type"] for layer in meta["architecture"])
    assert info["parameter_count"] == sum(sizes)
    assert info["parameter_count"] == meta["parameter_count"]
    assert info["input"] == meta["input"]
    assert info["input"]["shape"] == [28, 28, 1]
    assert info["labels"] == [str(d) for d in range(10)]
    assert info["metrics"] == meta["metrics"]
    assert 0.9 < info["metrics"]["test_accuracy"] <= 1.0
    assert info["created_at"] == meta["created_at"]
    assert Path(info["path"]).resolve() == path.resolve()
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded_at = datetime.fromisoformat(info["loaded_at"])
    assert loaded_at.tzinfo is not None
    assert loaded_at <= before
    # read top down, the summary a person looks for comes before the long layer list
    assert list(info)[:5] == ["name", "version", "architecture_summary", "parameter_count", "metrics"]
    assert list(info)[-1] == "architecture"


def test_models_lists_the_shipped_models(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    listed = {m["name"]: m["versions"] for m in body["models"]}
    assert 1 in listed["mnist-mlp"] and 1 in listed["mnist-cnn"]
    assert body["loaded"] == served_ref("mnist-mlp")


def passing(weights: Path, name: str, version: int, test_accuracy: float = 0.99) -> Path:
    """A version of model `name` that passes the load checks (the shipped MLP, saved under that
    name with this recorded accuracy: start-up measures every version)."""
    return shipped_copy(weights, version, name=name, test_accuracy=test_accuracy)


@pytest.fixture
def two_models(tmp_path: Path) -> Path:
    """alpha v1, v2 and beta v1 (with noise the registry must ignore)."""
    passing(tmp_path, "alpha", 1, test_accuracy=0.991)
    passing(tmp_path, "alpha", 2, test_accuracy=0.992)
    passing(tmp_path, "beta", 1, test_accuracy=0.990)
    (tmp_path / "alpha" / "1-report").mkdir()
    (tmp_path / "alpha" / "1-report" / "summary.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "README.md").write_text("weights")
    (tmp_path / "Bad_Name").mkdir()
    return tmp_path


def test_models_lists_models_and_versions_and_marks_the_loaded_one(two_models: Path) -> None:
    served = serve(two_models, model="alpha")
    listing = served["models"]
    assert listing["models"] == [{"name": "alpha", "versions": [1, 2]}, {"name": "beta", "versions": [1]}]
    assert listing["loaded"] == {"name": "alpha", "version": 2} and listing["default"] == "alpha"
    # every model is loaded at its newest version; alpha is the default
    assert [(v["name"], v["version"], v["role"]) for v in listing["served"]] == [
        ("alpha", 2, "served"), ("beta", 1, "served")]
    served = serve(two_models, model="beta")
    assert served["models"]["loaded"] == {"name": "beta", "version": 1}


def test_pinned_version_is_served(two_models: Path) -> None:
    served = serve(two_models, model="alpha", version="1")
    assert served["model"]["version"] == 1
    assert served["model"]["path"].endswith("alpha/1.npz")
    assert served["model"]["metrics"]["test_accuracy"] == 0.991
    assert served["predicted"]["model"] == {"name": "alpha", "version": 1}
    assert served["models"]["loaded"] == {"name": "alpha", "version": 1}


def test_latest_is_the_highest_version_numerically(tmp_path: Path) -> None:
    for version in (1, 2, 10, 9):
        passing(tmp_path, "alpha", version)
    served = serve(tmp_path, model="alpha", version="latest")
    assert served["model"]["version"] == 10
    assert served["models"]["models"] == [{"name": "alpha", "versions": [1, 2, 9, 10]}]


def test_default_model_is_the_one_with_best_recorded_test_accuracy(tmp_path: Path) -> None:
    passing(tmp_path, "aaa", 1, test_accuracy=0.985)
    passing(tmp_path, "bbb", 1, test_accuracy=0.995)
    passing(tmp_path, "ccc", 1, test_accuracy=0.99)
    served = serve(tmp_path, model=None)
    assert served["model"]["name"] == "bbb"
    assert served["predicted"]["model"] == {"name": "bbb", "version": 1}


def test_default_model_on_the_shipped_weights_is_the_cnn(weights_dir: Path) -> None:
    served = serve(weights_dir, model=None)
    assert served["model"]["name"] == "mnist-cnn"


@pytest.mark.parametrize(("settings", "words"), [({"model": "nope"}, ["nope"]),
                                                 ({"model": "alpha", "version": "7"}, ["7.npz", "[1, 2]"])])
def test_missing_model_or_version_stops_start_up(two_models: Path, settings: dict[str, Any],
                                                 words: list[str]) -> None:
    app = create_app(Settings(weights_dir=two_models, **settings))
    with pytest.raises(ArtifactError) as excinfo, TestClient(app):
        pass
    assert str(two_models) in str(excinfo.value)
    for word in words:
        assert word in str(excinfo.value)
