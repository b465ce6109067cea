"""Fixtures for the service tests: the shipped weights, an app serving the MLP, small artifacts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.artifact import save_artifact
from service.config import Settings
from service.main import create_app
from training.model import build_mlp

REPO_ROOT = Path(__file__).resolve().parents[2]
WEIGHTS_DIR = REPO_ROOT / "weights"
EXAMPLE_FILE = REPO_ROOT / "service" / "static" / "example_digit.json"

MakeArtifact = Callable[..., Path]


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The repo's shipped weights (`weights/<model>/<version>.npz`)."""
    return WEIGHTS_DIR


@pytest.fixture(scope="session")
def client(weights_dir: Path) -> Iterator[TestClient]:
    """A client of the app serving the shipped MLP; its lifespan (model loading) runs once."""
    with TestClient(create_app(Settings(weights_dir=weights_dir, model="mnist-mlp"))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def app(client: TestClient) -> FastAPI:
    """The app behind `client`, model loaded."""
    assert isinstance(client.app, FastAPI)
    return client.app


@pytest.fixture(scope="session")
def example_digit() -> dict[str, Any]:
    """{"label": 7, "pixels": 28 rows of 28 raw 0-255 ints}: a real MNIST test digit."""
    data: dict[str, Any] = json.loads(EXAMPLE_FILE.read_text())
    return data


def artifact_metadata(name: str, test_accuracy: float, **extra: Any) -> dict[str, Any]:
    return {"model_name": name, "labels": [str(d) for d in range(10)],
            "input": {"shape": [28, 28, 1], "layout": "NHWC", "dtype": "float32", "pixel_range": [0, 255],
                      "scale": 1 / 255, "mean": 0.1307, "std": 0.3081},
            "metrics": {"test_accuracy": test_accuracy}, "created_at": "2026-11-25T18:30:00+00:00",
            **extra}


@pytest.fixture
def make_artifact() -> MakeArtifact:
    """make_artifact(weights_dir, name, version=None, test_accuracy=0.5, seed=0) -> path of a new
    small MLP artifact (784 -> 16 -> 10) written with `save_artifact`."""

    def make(weights_dir: Path, name: str, version: int | None = None, test_accuracy: float = 0.5,
             seed: int = 0) -> Path:
        architecture, arrays = build_mlp(np.random.default_rng(seed), hidden=(16,)).export()
        meta = artifact_metadata(name, test_accuracy, architecture=architecture)
        return save_artifact(weights_dir, meta, arrays, version=version)

    return make
