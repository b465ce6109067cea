"""service.models.lifecycle: the next recorded state a load or unload call asks for, or why not."""

from __future__ import annotations

from typing import Any

import pytest

from service.models.lifecycle import LifecycleError, choose_default, plan_load, plan_start, plan_unload
from service.models.served_state import Candidate, Served

ON_DISK = [1, 2, 3]
SERVING = {"m": Served(2), "other": Served(1)}


@pytest.mark.parametrize(("parameters", "expected"), [
    ({}, Served(3)),  # the newest on disk, as a replace
    ({"version": "1"}, Served(1)),
    ({"version": 3, "rollout": "canary", "percent": 10}, Served(2, Candidate(3, "canary", 10.0))),
    ({"version": "3", "rollout": "shadow"}, Served(2, Candidate(3, "shadow"))),
])
def test_load_plans(parameters: dict[str, Any], expected: Served) -> None:
    assert plan_load(SERVING, "m", parameters, ON_DISK) == {**SERVING, "m": expected}


def test_loading_the_candidate_as_a_replace_promotes_it() -> None:
    canary = {"m": Served(2, Candidate(3, "canary", 10.0))}
    assert plan_load(canary, "m", {"version": "3", "rollout": "replace"}, ON_DISK) == {"m": Served(3)}


@pytest.mark.parametrize(("state", "parameters", "status"), [
    (SERVING, {"version": "0"}, 400), (SERVING, {"version": "-1"}, 400),
    (SERVING, {"version": "7"}, 404), (SERVING, {"rollout": "canary", "percent": 0}, 400),
    (SERVING, {"rollout": "canary", "percent": True}, 400),
    (SERVING, {"rollout": "canary", "percent": 101}, 400),
    (SERVING, {"version": "2", "rollout": "shadow"}, 409),
    ({"m": Served(None)}, {"rollout": "shadow"}, 409), ({}, {"rollout": "canary", "percent": 5}, 409),
])
def test_load_refusals(state: dict[str, Served], parameters: dict[str, Any], status: int) -> None:
    with pytest.raises(LifecycleError) as excinfo:
        plan_load(state, "m", parameters, ON_DISK)
    assert excinfo.value.status == status


def test_unload_plans_and_refusals() -> None:
    canary = {"m": Served(2, Candidate(3, "canary", 10.0)), "other": Served(1)}
    assert plan_unload(canary, "m", {"version": "3"}, ON_DISK, "other") == {**canary, "m": Served(2)}
    assert plan_unload(SERVING, "m", {}, ON_DISK, "other") == {**SERVING, "m": Served(None)}
    for state, parameters, default, status in [
        (canary, {}, "other", 409),  # under a rollout
        (canary, {"version": "2"}, "other", 409),
        (SERVING, {}, "m", 409),  # the default model
        (SERVING, {"version": "1"}, "other", 404),
        ({"m": Served(None)}, {}, "other", 404),
    ]:
        with pytest.raises(LifecycleError) as excinfo:
            plan_unload(state, "m", parameters, ON_DISK, default)
        assert excinfo.value.status == status, (state, parameters)


@pytest.mark.parametrize("version", ["9" * 5000, "1" + "0" * 4300, "1" * 10],
                         ids=["5000 digits", "4301 digits", "10 digits"])
def test_an_over_long_version_is_a_bad_request_on_load_and_unload(version: str) -> None:
    for plan in (lambda: plan_load(SERVING, "m", {"version": version}, ON_DISK),
                 lambda: plan_unload(SERVING, "m", {"version": version}, ON_DISK, "other")):
        with pytest.raises(LifecycleError) as excinfo:
            plan()
        assert excinfo.value.status == 400
        assert "at most 9 digits" in excinfo.value.message
        assert len(excinfo.value.message) < 200  # the digits are counted, not echoed


# ---- start-up

ON_DISK_MODELS = {"m": [1, 2, 3], "other": [1]}


def test_start_serves_the_newest_of_each_model_without_a_record() -> None:
    assert plan_start(ON_DISK_MODELS, None) == {"m": Served(3), "other": Served(1)}


def test_start_follows_the_record_and_adds_new_model_folders() -> None:
    recorded = {"m": Served(2, Candidate(3, "canary", 5.0))}
    assert plan_start(ON_DISK_MODELS, recorded) == {"m": Served(2, Candidate(3, "canary", 5.0)),
                                                    "other": Served(1)}


def test_start_falls_back_to_the_newest_when_a_recorded_version_is_gone() -> None:
    recorded = {"m": Served(7), "other": Served(1, Candidate(9, "shadow"))}
    assert plan_start(ON_DISK_MODELS, recorded) == {"m": Served(3), "other": Served(1)}


def test_a_pin_overrides_the_record_and_an_unloaded_model_asked_for_by_name_serves() -> None:
    recorded = {"m": Served(3), "other": Served(None)}
    assert plan_start(ON_DISK_MODELS, recorded, "m", 1)["m"] == Served(1)
    assert plan_start(ON_DISK_MODELS, recorded, "other")["other"] == Served(1)
    assert plan_start(ON_DISK_MODELS, recorded)["other"] == Served(None)  # not asked for: stays unloaded


@pytest.mark.parametrize(("model", "pinned", "words"), [
    ("gamma", None, "model 'gamma' has no versions"),
    ("m", 4, "m/4.npz: no such version (available: [1, 2, 3])"),
])
def test_start_names_a_configured_model_or_version_that_is_not_on_disk(model: str, pinned: int | None,
                                                                       words: str) -> None:
    with pytest.raises(LifecycleError) as excinfo:
        plan_start(ON_DISK_MODELS, None, model, pinned)
    assert words in excinfo.value.message


def test_the_default_is_the_configured_model_else_the_best_recorded_accuracy() -> None:
    accuracy = {"a": 0.95, "b": 0.99, "c": None}.get
    assert choose_default(["a", "b", "c"], None, accuracy) == "b"
    assert choose_default(["a", "b", "c"], "a", accuracy) == "a"
    assert choose_default(["c", "a"], None, accuracy) == "a"  # no recorded accuracy ranks last
    assert choose_default([], None, accuracy) is None
