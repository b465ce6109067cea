"""Which version of each model serves: the one module that decides it, at start-up and after a call.
Each plan is the next recorded state, from the current one.

    start                               the record for the models it names; the newest version of
                                        a model it does not (a new folder); a pinned MNIST_MODEL/
                                        MNIST_VERSION over both. A recorded version no longer on
                                        disk falls back to the newest, logged

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

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from service.models.served_state import Candidate, Served, State

log = logging.getLogger("service")

ROLLOUTS = ("replace", "canary", "shadow")
LOAD_PARAMETERS = ("version", "rollout", "percent")
UNLOAD_PARAMETERS = ("version",)
MAX_VERSION_DIGITS = 9  # as artifacts may record; also keeps int() clear of Python's digit limit


class LifecycleError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def plan_start(on_disk: dict[str, list[int]], recorded: State | None, model: str | None = None,
               pinned: int | None = None) -> State:
    """What to serve at start-up (`model`: MNIST_MODEL, `pinned`: its MNIST_VERSION unless latest).
    LifecycleError if the configured model or version is not on disk."""
    versions = on_disk.get(model or "", [])
    if model is not None and not versions:
        raise LifecycleError(404, f"model {model!r} has no versions")
    if pinned is not None and pinned not in versions:
        raise LifecycleError(404, f"{model}/{pinned}.npz: no such version (available: {versions})")
    state: State = {}
    for name, found in on_disk.items():
        served = (recorded or {}).get(name, Served(found[-1]))
        if served.version is not None and served.version not in found:
            log.warning("recorded version not on disk; serving the newest",
                        extra={"model": name, "version": served.version})
            served = Served(found[-1])
        if served.candidate is not None and served.candidate.version not in found:
            served = Served(served.version)
        state[name] = served
    if model is not None:
        if pinned is not None:
            state[model] = Served(pinned)
        elif state[model].version is None:  # unloaded earlier, but asked for by name now
            state[model] = Served(versions[-1])
    return state


def choose_default(served: list[str], configured: str | None,
                   accuracy: Callable[[str], float | None]) -> str | None:
    """The default model: the configured one, else the served one with the best recorded test
    accuracy."""
    if configured is not None:
        return configured
    return max(sorted(served), key=lambda name: accuracy(name) or 0.0, default=None)


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
