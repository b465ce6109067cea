"""What a repository load or unload call changes: the next recorded state, from the current one.

    load  name [version] [rollout]     version: the newest on disk unless given
        replace (default)   the version becomes the served one; a candidate is dropped (loading the
                            candidate this way promotes it)
        canary, percent P   the version becomes the candidate, answering P % of unpinned requests
        shadow              the version becomes the candidate, computing every request off the path
    unload name [version]
        the candidate's version: the rollout ends (rollback); the served one, or none given: the
        model stops being served (not the default model, and not under a rollout)

Only the plan is made here; checking and loading the versions is the registry's (all or nothing).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from service.models.served_state import Candidate, Served, State

ROLLOUTS = ("replace", "canary", "shadow")


MAX_VERSION_DIGITS = 9  # as artifacts may record; also keeps int() clear of Python's digit limit


class LifecycleError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _version(parameters: dict[str, Any], on_disk: list[int], name: str) -> int | None:
    value = parameters.get("version")
    if value is None:
        return None
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_VERSION_DIGITS or int(text) < 1:
        shown = repr(value) if len(text) <= 40 else f"{len(text)} characters"
        raise LifecycleError(400, f"parameters.version must be a positive integer of at most "
                             f"{MAX_VERSION_DIGITS} digits, got {shown}")
    if int(text) not in on_disk:
        raise LifecycleError(404, f"model '{name}' has no version {text} on disk (versions: {on_disk})")
    return int(text)


def plan_load(state: State, name: str, parameters: dict[str, Any], on_disk: list[int]) -> State:
    if not on_disk:
        raise LifecycleError(404, f"no model '{name}' in the weights directory")
    version = _version(parameters, on_disk, name) or on_disk[-1]
    rollout = parameters.get("rollout", "replace")
    if rollout not in ROLLOUTS:
        raise LifecycleError(400, f"parameters.rollout must be one of {', '.join(ROLLOUTS)}, got {rollout!r}")
    if rollout == "replace":
        return {**state, name: Served(version)}
    current = state.get(name)
    if current is None or current.version is None:
        raise LifecycleError(409, f"model '{name}' is not served: a {rollout} needs a served version to "
                             "compare with; load one first (rollout replace)")
    if version == current.version:
        raise LifecycleError(409, f"version {version} of '{name}' is the served version already")
    percent = 0.0
    if rollout == "canary":
        raw = parameters.get("percent")
        if not isinstance(raw, int | float) or isinstance(raw, bool) or not 0 < raw <= 100:
            raise LifecycleError(400, f"parameters.percent must be a number above 0 and at most 100 for a "
                                 f"canary, got {raw!r}")
        percent = float(raw)
    return {**state, name: replace(current, candidate=Candidate(version, rollout, percent))}


def plan_unload(state: State, name: str, parameters: dict[str, Any], on_disk: list[int],
                default: str | None) -> State:
    current = state.get(name)
    if current is None or current.version is None:
        raise LifecycleError(404, f"model '{name}' is not loaded")
    version = _version(parameters, on_disk, name)
    candidate = current.candidate
    if candidate is not None and version == candidate.version:
        return {**state, name: Served(current.version)}
    if version is not None and version != current.version:
        raise LifecycleError(404, f"version {version} of '{name}' is not loaded")
    if candidate is not None:
        raise LifecycleError(409, f"'{name}' is under a {candidate.rollout} of version {candidate.version}: "
                             "promote it (load with rollout replace) or unload it first")
    if name == default:
        raise LifecycleError(409, f"'{name}' is the default model (MNIST_MODEL, or the best recorded "
                             "accuracy): load another version of it instead of unloading it")
    return {**state, name: Served(None)}
