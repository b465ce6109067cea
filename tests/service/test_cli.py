"""`mnist-serve`'s start: the served versions are recorded once, before any worker starts."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from service.cli import main, record_served_versions
from service.config import Settings
from service.main import start_models
from service.models.manager import ModelManager
from service.models.served_state import Served, State, read_state
from testkit.artifacts import shipped_copy


@pytest.fixture
def pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two versions of mnist-mlp, the server asked for version 1 (`--model mnist-mlp --version 1`)."""
    weights = tmp_path / "weights"
    shipped_copy(weights, 1)
    shipped_copy(weights, 2)
    for name, value in {"MNIST_WEIGHTS_DIR": str(weights), "MNIST_MODEL": "mnist-mlp",
                        "MNIST_VERSION": "1", "MNIST_STATE_PATH": str(tmp_path / "serving.json")}.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "serving.json"


def promote_version_2(state: State) -> State:
    return {**state, "mnist-mlp": Served(2)}


def worker(factory: str) -> ModelManager:
    """A worker's models as the app factory `mnist-serve` chose starts them, from the environment."""
    return start_models(Settings(), pin=factory == "service.main:create_app")


def test_a_worker_starting_late_keeps_a_call_answered_meanwhile(pinned: Path) -> None:
    model, factory = record_served_versions(Settings())
    assert model.version == 1 and factory == "service.main:create_following_app"
    assert read_state(pinned)["mnist-mlp"] == Served(1)
    first = worker(factory)
    asyncio.run(first.change(promote_version_2))  # a repository call it answers
    late = worker(factory)  # another worker, starting (or restarting) after the call
    served = late.registry.default_model()
    assert served is not None and served.version == 2
    assert read_state(pinned)["mnist-mlp"] == Served(2)


def test_the_pin_stays_where_nothing_can_be_recorded(pinned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a record in a folder that does not exist (as on a read-only image): each worker must pin again
    monkeypatch.setenv("MNIST_STATE_PATH", str(pinned.parent / "missing" / "serving.json"))
    model, factory = record_served_versions(Settings())
    assert model.version == 1 and factory == "service.main:create_app"
    served = worker(factory).registry.default_model()
    assert served is not None and served.version == 1


def test_several_workers_without_a_writable_temp_folder_exit_with_one_line(
        pinned: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # as on a read-only root filesystem with no /tmp mount: no temporary folder can be made
    monkeypatch.setattr(tempfile, "tempdir", str(pinned.parent / "no-such-folder"))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("MNIST_WORKERS", "2")  # main() sets the flags' variables: restored after
    monkeypatch.setenv("MNIST_PORT", "1")
    assert main(["--workers", "2", "--port", "1"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "none is writable" in line and "tmpfs at /tmp" in line
