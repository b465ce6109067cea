"""Shared fixtures: the shipped weights, the example digit, MNIST. MNIST comes from
$MNIST_DATA_DIR: when it is set the data must load (tests fail, never skip); when it is unset and
./data/mnist is absent, MNIST tests skip."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from training.data import DATA_DIR_ENV, Mnist, load_mnist

REPO_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = REPO_ROOT / "weights"
EXAMPLE_FILE = REPO_ROOT / "service" / "static" / "example_digit.json"


@pytest.fixture(scope="session", autouse=True)
def served_versions_record(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Apps built in tests record their served versions (MNIST_STATE_PATH) in a temporary file,
    never next to the shipped weights. Tests of the record itself give each app its own."""
    path = tmp_path_factory.mktemp("state") / "serving.json"
    previous = os.environ.get("MNIST_STATE_PATH")
    os.environ["MNIST_STATE_PATH"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("MNIST_STATE_PATH", None)
    else:
        os.environ["MNIST_STATE_PATH"] = previous


@pytest.fixture(autouse=True)
def own_served_versions_record(served_versions_record: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> Path:
    """An app a test builds records in that test's own file: a test serving other weights cannot
    leave a record that another app (module fixtures share the session file) would follow."""
    path = tmp_path / "serving.json"
    monkeypatch.setenv("MNIST_STATE_PATH", str(path))
    return path


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The repo's shipped weights (`weights/<model>/<version>.npz`)."""
    return WEIGHTS_DIR


@pytest.fixture(scope="session")
def example_digit() -> dict[str, Any]:
    """{"label": 7, "pixels": 28 rows of 28 raw 0-255 ints}: a real MNIST test digit."""
    data: dict[str, Any] = json.loads(EXAMPLE_FILE.read_text())
    return data


def mnist_dir() -> Path | None:
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured)
    fallback = REPO_ROOT / "data" / "mnist"
    return fallback if fallback.exists() else None


@pytest.fixture(scope="session")
def mnist_data_dir() -> Path:
    """The MNIST folder; skips when $MNIST_DATA_DIR is unset and ./data/mnist is absent."""
    root = mnist_dir()
    if root is None:
        pytest.skip(f"MNIST not available: set {DATA_DIR_ENV} to the folder of the IDX files")
    return root


@pytest.fixture(scope="session")
def mnist(mnist_data_dir: Path) -> Mnist:
    """The real MNIST arrays; fails if $MNIST_DATA_DIR is set but unreadable."""
    return load_mnist(mnist_data_dir)
