"""Fixtures for the service tests: an app serving the shipped MLP, small artifacts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.config import Settings
from service.main import create_app
from testkit.artifacts import tiny_artifact

MakeArtifact = Callable[..., Path]


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


@pytest.fixture
def make_artifact() -> MakeArtifact:
    """make_artifact(weights_dir, name, version=None, seed=0, test_accuracy=0.5) -> path of a new
    small MLP artifact (784 -> 16 -> 10): `testkit.artifacts.tiny_artifact`."""
    return tiny_artifact
