"""service.models.manager: one worker's models over time: start-up from the record, calls all or
nothing and recorded, another worker's call followed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from neuralnet.artifact import ArtifactError
from service.config import Settings
from service.models.lifecycle import LifecycleError, plan_load
from service.models.manager import ModelManager
from service.models.served_state import Served, State, read_state, write_state
from testkit.artifacts import shipped_copy, tiny_artifact


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    weights = tmp_path / "weights"
    shipped_copy(weights, 1)
    shipped_copy(weights, 2)
    tiny_artifact(weights, "tiny-mlp", version=1)  # fails the checks, but start-up only loads it
    return Settings(weights_dir=weights, state_path=tmp_path / "serving.json")


def started(settings: Settings) -> ModelManager:
    manager = ModelManager(settings)
    manager.start()
    return manager


def test_first_start_serves_the_newest_and_records_it(settings: Settings) -> None:
    manager = started(settings)
    assert manager.registry.default == "mnist-mlp"  # the best recorded accuracy
    assert read_state(manager.state_path) == {"mnist-mlp": Served(2), "tiny-mlp": Served(1)}
    assert manager.recorded


def test_a_restart_serves_what_the_record_says(settings: Settings) -> None:
    assert settings.state_path is not None
    write_state(settings.state_path, {"mnist-mlp": Served(1), "tiny-mlp": Served(None)})
    manager = started(settings)
    assert manager.registry.state() == {"mnist-mlp": Served(1)}


def test_an_unreadable_record_stops_start_up_with_what_to_do(settings: Settings) -> None:
    assert settings.state_path is not None
    settings.state_path.write_text("{not json")
    with pytest.raises(ArtifactError, match=r"record is unreadable.*fix or delete it"):
        started(settings)


def promote(version: int) -> Callable[[State], State]:
    def plan(state: State) -> State:
        return plan_load(state, "mnist-mlp", {"version": version}, [1, 2])
    return plan


def test_a_call_is_recorded_and_served_and_a_refused_one_changes_nothing(settings: Settings) -> None:
    manager = started(settings)
    asyncio.run(manager.change(promote(1)))
    assert manager.registry.route("mnist-mlp").model.version == 1
    assert read_state(manager.state_path) == {"mnist-mlp": Served(1), "tiny-mlp": Served(1)}

    shipped_copy(settings.weights_dir, 3, test_accuracy=0.5)  # fails the checks
    with pytest.raises(LifecycleError) as excinfo:
        asyncio.run(manager.change(lambda state: plan_load(state, "mnist-mlp", {}, [1, 2, 3])))
    assert excinfo.value.status == 409 and "the served versions are unchanged" in excinfo.value.message
    assert read_state(manager.state_path) == {"mnist-mlp": Served(1), "tiny-mlp": Served(1)}
    assert manager.registry.route("mnist-mlp").model.version == 1


def test_a_worker_follows_the_record_another_worker_wrote(settings: Settings) -> None:
    this, other = started(settings), started(settings)
    asyncio.run(other.change(promote(1)))
    assert this.registry.route("mnist-mlp").model.version == 2
    asyncio.run(this._sync())
    assert this.registry.route("mnist-mlp").model.version == 1
