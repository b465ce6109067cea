"""service.models.manager: one worker's models over time: start-up from the record, calls all or
nothing and recorded, another worker's call followed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from neuralnet.artifact import ArtifactError
from service.config import Settings
from service.models.lifecycle import LifecycleError, plan_load
from service.models.manager import ModelManager
from service.models.served_state import Served, State, read_state, write_state
from testkit.artifacts import shipped_copy, tiny_artifact
from testkit.hostile_artifacts import rewritten


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    weights = tmp_path / "weights"
    shipped_copy(weights, 1)
    shipped_copy(weights, 2)
    tiny_artifact(weights, "tiny-mlp", version=1)  # untrained: fails the checks, at start-up too
    return Settings(weights_dir=weights, state_path=tmp_path / "serving.json")


def started(settings: Settings) -> ModelManager:
    manager = ModelManager(settings)
    manager.start()
    return manager


def test_first_start_serves_the_newest_and_records_it(settings: Settings) -> None:
    manager = started(settings)
    assert manager.registry.default == "mnist-mlp"  # the best recorded accuracy
    assert read_state(manager.state_path) == {"mnist-mlp": Served(2)}
    assert manager.recorded
    assert "tiny-mlp" not in manager.registry.deployments  # left out, and why is kept
    assert "below the minimum" in manager.unavailable_reason("tiny-mlp")


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
    assert read_state(manager.state_path) == {"mnist-mlp": Served(1)}

    shipped_copy(settings.weights_dir, 3, test_accuracy=0.5)  # fails the checks
    with pytest.raises(LifecycleError) as excinfo:
        asyncio.run(manager.change(lambda state: plan_load(state, "mnist-mlp", {}, [1, 2, 3])))
    assert excinfo.value.status == 409 and "the served versions are unchanged" in excinfo.value.message
    assert read_state(manager.state_path) == {"mnist-mlp": Served(1)}
    assert manager.registry.route("mnist-mlp").model.version == 1


def test_a_worker_follows_the_record_another_worker_wrote(settings: Settings) -> None:
    this, other = started(settings), started(settings)
    asyncio.run(other.change(promote(1)))
    assert this.registry.route("mnist-mlp").model.version == 2
    asyncio.run(this._sync())
    assert this.registry.route("mnist-mlp").model.version == 1


def test_start_up_leaves_out_a_model_that_fails_and_serves_the_others(tmp_path: Path) -> None:
    """A non-JSON artifact, an all-NaN one and one that claims 99.99 % but answers 7 to everything."""
    weights = tmp_path / "weights"
    shipped_copy(weights, 1)
    (weights / "mnist-zzz").mkdir()
    (weights / "mnist-zzz" / "1.npz").write_bytes(b"PK\x03\x04 not an artifact")
    nan = shipped_copy(weights, 1, name="mnist-nan")
    rewritten(nan, nan, arrays=lambda arrays: [a.fill(np.nan) for a in arrays.values()])

    def always_seven(arrays: dict[str, np.ndarray]) -> None:
        for array in arrays.values():
            array.fill(0)
        arrays["layers.7.b"][7] = 10.0

    seven = shipped_copy(weights, 1, name="mnist-seven", test_accuracy=0.9999)
    rewritten(seven, seven, arrays=always_seven)
    manager = started(Settings(weights_dir=weights, state_path=tmp_path / "serving.json"))
    assert list(manager.registry.deployments) == ["mnist-mlp"]
    assert manager.registry.default == "mnist-mlp"  # not the one that only claims the best accuracy
    assert "not a valid .npz" in manager.unavailable_reason("mnist-zzz")
    assert "NaN" in manager.unavailable_reason("mnist-nan")
    assert "measured accuracy" in manager.unavailable_reason("mnist-seven")


def test_a_configured_default_that_fails_leaves_the_worker_up_but_not_ready(settings: Settings) -> None:
    manager = started(settings.model_copy(update={"model": "tiny-mlp"}))
    assert manager.registry.default == "tiny-mlp" and manager.registry.default_model() is None
    assert manager.registry.route("mnist-mlp").model.version == 2  # the others serve


def test_an_unwritable_record_never_undoes_what_start_up_chose(settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The record says v1 and cannot be written: a worker pinned to v2 keeps v2 (issue: it became
    the record's version a second later)."""
    assert settings.state_path is not None
    write_state(settings.state_path, {"mnist-mlp": Served(1)})

    def read_only(path: Path, state: State) -> None:
        raise PermissionError(13, "Read-only file system", str(path))

    monkeypatch.setattr("service.models.manager.write_state", read_only)
    manager = started(settings.model_copy(update={"model": "mnist-mlp", "version": "2"}))
    assert not manager.recorded
    for _ in range(3):
        asyncio.run(manager._sync())
    assert manager.registry.route("mnist-mlp").model.version == 2
    assert manager.record_problem is not None and "cannot write the record" in manager.record_problem


def test_a_record_naming_a_version_that_cannot_serve_keeps_the_served_one(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    assert settings.state_path is not None
    manager = started(settings)
    write_state(settings.state_path, {"mnist-mlp": Served(7)})  # no such file on disk
    for _ in range(3):
        asyncio.run(manager._sync())
    assert manager.registry.route("mnist-mlp").model.version == 2  # not dropped (issue: 404)
    assert manager.record_problem is not None and "mnist-mlp" in manager.record_problem
    assert [r.message for r in caplog.records].count("served-versions record not followed") == 1
    settings.state_path.write_text("{not json")
    asyncio.run(manager._sync())
    asyncio.run(manager._sync())
    assert manager.registry.route("mnist-mlp").model.version == 2
    assert "unreadable" in (manager.record_problem or "")
    assert [r.message for r in caplog.records].count("served-versions record not followed") == 2


def test_watch_mode_reports_a_bad_file_once_per_change(settings: Settings,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    manager = started(settings.model_copy(update={"watch_seconds": 1.0}))
    bad = settings.weights_dir / "mnist-mlp" / "3.npz"
    bad.write_bytes(b"PK\x03\x04 half-copied")
    for _ in range(3):
        asyncio.run(manager._watch())
    assert [r.message for r in caplog.records].count("new version refused (watch)") == 1
    bad.write_bytes(b"PK\x03\x04 still not an artifact, but another file")
    asyncio.run(manager._watch())
    assert [r.message for r in caplog.records].count("new version refused (watch)") == 2
    assert manager.registry.route("mnist-mlp").model.version == 2
