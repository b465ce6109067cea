"""Shared fixtures. MNIST comes from $MNIST_DATA_DIR: when it is set the data must load
(tests fail, never skip); when it is unset and ./data/mnist is absent, MNIST tests skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from training.data import DATA_DIR_ENV, Mnist, load_mnist

REPO_ROOT = Path(__file__).resolve().parent.parent


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
