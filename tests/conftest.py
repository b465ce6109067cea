"""Shared fixtures: the shipped weights, the example digit, MNIST.

MNIST comes from $MNIST_DATA_DIR, else ./data/mnist (where `make data` downloads it, and where
`mnist-train` looks). The tests that need it skip, with one reason, when that folder is absent;
they fail instead when MNIST_DATA_DIR names a folder explicitly, or when MNIST_DATA_REQUIRED=1 (CI
sets it: there, the data is there); a folder that exists but does not load always fails them."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from testkit.shipped import shipped_weights
from training.data import DATA_DIR_ENV, Mnist, load_mnist

REPO_ROOT = Path(__file__).resolve().parent.parent


def _stop_the_run(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (an interrupted `make test`: its whole process group gets it) stops the run as Ctrl+C
    does, so fixtures still tear down: the servers tests start in process groups of their own, which
    the signal does not reach, are stopped instead of left running."""
    signal.signal(signal.SIGTERM, _stop_the_run)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding slow tests run first: `make test` hands whole modules to its workers
    (pytest-xdist), and long ones left to the end would keep one worker busy while the other waits.
    The order within a module stays as written."""
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)
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
    """The shipped weights (`<model>/<version>.npz`): a copy of the versions git tracks, so that a
    local training run's new version changes no test (testkit/shipped.py)."""
    return shipped_weights()


@pytest.fixture(scope="session")
def example_digit() -> dict[str, Any]:
    """{"label": 7, "pixels": 28 rows of 28 raw 0-255 ints}: a real MNIST test digit."""
    data: dict[str, Any] = json.loads(EXAMPLE_FILE.read_text())
    return data


@pytest.fixture(scope="session")
def seven(example_digit: dict[str, Any]) -> np.ndarray:
    """The example digit (a 7) as a (28, 28) uint8 array."""
    return np.array(example_digit["pixels"], np.uint8)


DATA_REQUIRED_ENV = "MNIST_DATA_REQUIRED"


def mnist_dir() -> Path:
    configured = os.environ.get(DATA_DIR_ENV)
    return Path(configured) if configured else REPO_ROOT / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_data_dir() -> Path:
    """The MNIST folder; skips when it is absent, unless it was asked for (see the module)."""
    root = mnist_dir()
    if not root.exists():
        why = f"MNIST not found in {root}: run `make data` (downloads it there) or set {DATA_DIR_ENV}"
        if os.environ.get(DATA_DIR_ENV) or os.environ.get(DATA_REQUIRED_ENV) == "1":
            pytest.fail(why)
        pytest.skip(why)
    return root


@pytest.fixture(scope="session")
def mnist(mnist_data_dir: Path) -> Mnist:
    """The real MNIST arrays; fails if $MNIST_DATA_DIR is set but unreadable."""
    return load_mnist(mnist_data_dir)


# The apps tests build in this process serve no gRPC: the default port (8001) is one per machine.
# Tests of the gRPC service give their server a free port (testkit.server does the same for its).
os.environ["MNIST_GRPC_PORT"] = "0"
