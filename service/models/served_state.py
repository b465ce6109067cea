"""Which version of each model is served, recorded next to the weights (`serving.json`).

The file is what survives a restart and what every worker process follows: a repository call
answered by one worker rewrites it, and each worker applies what it says (service/models/sync.py).
Without it, a restart would serve whatever `latest` is on disk that day, a file nobody tested.

    {"models": {"mnist-cnn": {"version": 2,
                              "candidate": {"version": 3, "rollout": "canary", "percent": 10.0}},
                "mnist-mlp": {"version": null}},            <- unloaded: stays so after a restart
     "updated_at": "2026-12-01T16:00:00+00:00"}

Written atomically (a temporary file in the same folder, fsync, rename), so a reader sees the old
content or the new, never half of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Rollout = Literal["canary", "shadow"]
STATE_FILE = "serving.json"


class StateError(Exception):
    """The state file exists but cannot be read as one."""


@dataclass(frozen=True)
class Candidate:
    version: int
    rollout: Rollout
    percent: float = 0.0  # canary only: the share of the model's unpinned requests it answers


@dataclass(frozen=True)
class Served:
    version: int | None  # None: unloaded
    candidate: Candidate | None = None


State = dict[str, Served]


def _version(value: Any, where: str) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise StateError(f"{where}: version must be a positive integer or null, got {value!r}")


def _candidate(value: Any, where: str) -> Candidate | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("rollout") not in ("canary", "shadow"):
        raise StateError(f"{where}.candidate: expected {{version, rollout: canary|shadow, percent}}")
    version = _version(value.get("version"), f"{where}.candidate")
    percent = value.get("percent", 0.0)
    if version is None or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise StateError(f"{where}.candidate: needs a version and a percent from 0 to 100")
    return Candidate(version, value["rollout"], float(percent))


def parse_state(text: str) -> State:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StateError(f"not JSON: {exc}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise StateError("expected an object with `models`")
    state: State = {}
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise StateError(f"models.{name}: expected an object")
        state[name] = Served(_version(entry.get("version"), f"models.{name}"),
                             _candidate(entry.get("candidate"), f"models.{name}"))
    return state


def read_state(path: Path) -> State | None:
    """The recorded state, None if there is no file; StateError if it is unreadable."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: {exc}") from None
    try:
        return parse_state(text)
    except StateError as exc:
        raise StateError(f"{path}: {exc}") from None


def render_state(state: State) -> str:
    models: dict[str, Any] = {}
    for name, served in sorted(state.items()):
        entry: dict[str, Any] = {"version": served.version}
        if served.candidate is not None:
            c = served.candidate
            entry["candidate"] = {"version": c.version, "rollout": c.rollout, "percent": c.percent}
        models[name] = entry
    return json.dumps({"models": models, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")},
                      indent=2) + "\n"


@contextlib.contextmanager
def state_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the record while reading and rewriting it: workers starting or
    taking calls at the same moment must not each write over the other's change. Where no lock
    file can be made (a read-only folder), nothing can be recorded either: no lock is needed."""
    try:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_state(path: Path, state: State) -> None:
    """Replace the file atomically; OSError (e.g. a read-only folder) goes to the caller."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(render_state(state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
