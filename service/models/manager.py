"""One worker's models over time: loaded at start-up from the recorded state, changed by repository
calls (all or nothing, recorded before they take effect), and kept in step with the other workers.

Every worker polls the state file (`SYNC_SECONDS`) and applies what it says when it differs from
what the worker serves: a call answered by one worker reaches the others within seconds. With
MNIST_WATCH_SECONDS > 0, the weights directory is also polled: a newer version of a served model
appearing on disk is loaded as a replace, through the same checks (a refused file is reported
once, and tried again only when it changes).

Start-up checks every version as a repository load does (service/models/checks.py): a model that
fails is left out, logged, and listed as unavailable with its reason; the others serve, and
readiness follows the default model. The record never takes a served model away or changes it by
being unreadable or unwritable: a worker keeps what it serves, and says why (`record_problem`,
shown in /v1/models).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

from anyio import to_thread

from neuralnet.artifact import ArtifactError
from service.config import Settings
from service.models.checks import LoadRefused, recorded_accuracy
from service.models.lifecycle import LifecycleError, choose_default, plan_load, plan_start
from service.models.registry import Registry
from service.models.repository import available_models
from service.models.served_state import (
    STATE_FILE,
    State,
    StateError,
    read_state,
    state_lock,
    write_state,
)

log = logging.getLogger("service")
SYNC_SECONDS = 1.0


class ModelManager:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = Registry(settings.weights_dir, settings.min_accuracy)
        self.state_path: Path = settings.state_path or settings.weights_dir / STATE_FILE
        self.applied: State | None = None  # the recorded state this worker serves
        self.recorded = False  # whether the record holds what start-up chose
        self.lock = asyncio.Lock()  # one change at a time in this worker
        self.next_watch = 0.0
        self.record_problem: str | None = None  # why the record is not followed or written, if so
        self.unwritten: State | None = None  # the record start-up found and could not overwrite
        self.watch_refused: dict[tuple[str, int], tuple[int, int]] = {}  # file (mtime, size) refused

    # ---- start-up (blocking: before the worker serves)

    def start(self, record: bool = True, pin: bool = True) -> None:
        """Load what the record (or, first time, the newest of every model) says, a pinned
        MNIST_VERSION over it unless `pin` is False (the record already holds it: `mnist-serve`
        applied it before starting the workers); the configured or best model becomes the default.
        ArtifactError if that one cannot serve."""
        if not self.settings.weights_dir.is_dir():
            raise ArtifactError(f"{self.settings.weights_dir}: weights directory does not exist")
        with state_lock(self.state_path) if record else contextlib.nullcontext():
            self._start(record, pin)

    def _start(self, record: bool, pin: bool) -> None:
        s = self.settings
        try:
            recorded = read_state(self.state_path)
        except StateError as exc:
            raise ArtifactError(f"the served-versions record is unreadable ({exc}); fix or delete "
                                "it") from None
        on_disk = available_models(s.weights_dir)
        pinned = int(s.version) if pin and s.model and s.version != "latest" else None
        try:
            state = plan_start(on_disk, recorded, s.model, pinned)
        except LifecycleError as exc:
            raise ArtifactError(f"{s.weights_dir}: {exc.message}") from None
        # each version through the load gate; nothing served at all is one error line, not a log
        deployments = self.registry.build(state, strict=False, report=False)
        if not deployments:
            reasons = "".join(f"; {reason}" for reason in self.registry.failures.values())
            raise ArtifactError(f"{s.weights_dir}: no model could be loaded{reasons}")
        for (name, _), reason in sorted(self.registry.failures.items()):
            log.error("model not loaded", extra={"model": name, "reason": reason})
        default = choose_default(list(deployments), s.model,
                                 lambda name: recorded_accuracy(deployments[name].served))
        if default not in deployments:  # the configured one: the others serve, readiness waits for it
            log.error("default model unavailable; not ready", extra={
                "model": default, "reason": self.unavailable_reason(default or "")})
        self.registry.default = default
        self.registry.swap(deployments)
        self.applied = self.registry.state()
        self.recorded = not record or self.applied == recorded
        if record and not self.recorded:
            try:
                write_state(self.state_path, self.applied)
                self.recorded = True
            except OSError as exc:  # e.g. a read-only image: served as is, and repository calls say so
                self.unwritten = recorded
                self.record_problem = f"cannot write the record {self.state_path} ({exc}); serving what " \
                    "start-up chose"
                log.warning("served versions not recorded", extra={"path": str(self.state_path),
                                                                    "reason": str(exc)})

    def unavailable_reason(self, name: str) -> str:
        """Why a model is not served: its refused versions' reasons."""
        reasons = [r for (n, _), r in sorted(self.registry.failures.items()) if n == name]
        return "; ".join(reasons) or "not loaded"

    # ---- changes

    async def change(self, plan: Callable[[State], State]) -> State:
        """Apply a repository call: plan the next state from the record (what every worker
        follows), load and check what it needs, record it, then serve it in one step.
        LifecycleError (status, why) if it may not; nothing changes then."""
        async with self.lock:
            return await to_thread.run_sync(self._change, plan)

    def _change(self, plan: Callable[[State], State]) -> State:
        with state_lock(self.state_path):
            try:  # another worker's change this one has not followed yet is the base, not lost
                base = read_state(self.state_path) or self.registry.state()
            except StateError:
                base = self.registry.state()
            state = plan(base)
            try:
                deployments = self.registry.build(state, strict=True)
            except LoadRefused as exc:
                raise LifecycleError(409, f"not loaded: {exc}; the served versions are unchanged") from None
            try:
                write_state(self.state_path, state)
            except OSError as exc:
                raise LifecycleError(409, f"cannot record the served versions in {self.state_path} ({exc}); "
                                     "set MNIST_STATE_PATH to a writable file") from None
            self.registry.swap(deployments)
            self.applied = state
            return state

    async def follow(self) -> None:
        """Forever: apply the state another worker recorded; with watch mode, load new versions."""
        while True:
            await asyncio.sleep(SYNC_SECONDS)
            try:
                await self._sync()
                if self.settings.watch_seconds > 0 and time.monotonic() >= self.next_watch:
                    self.next_watch = time.monotonic() + self.settings.watch_seconds
                    await self._watch()
            except Exception:  # the loop must outlive any one failure
                log.exception("following the served-versions record failed")

    async def _sync(self) -> None:
        # Read under the lock: a record read before waiting for it could be older than what a call
        # that ran meanwhile recorded and served, and applying it would undo that call.
        async with self.lock:
            try:
                recorded = read_state(self.state_path)
            except StateError as exc:
                self._record_trouble(f"the record {self.state_path} is unreadable ({exc}); keeping the "
                                     "served versions")
                return
            if recorded is None or recorded == self.applied or recorded == self.unwritten:
                return  # nothing new (or only what start-up could not overwrite)
            self.unwritten = None
            deployments = await to_thread.run_sync(lambda: self.registry.build(recorded, strict=False))
            kept = [name for name, served in recorded.items() if served.version is not None
                    and name not in deployments and name in self.registry.deployments]
            for name in kept:  # a recorded version that cannot serve: keep the one serving now
                deployments[name] = self.registry.deployments[name]
            self.registry.swap(deployments)
            self.applied = recorded
            if kept:
                self._record_trouble(f"the record names versions of {', '.join(kept)} that cannot serve "
                                     f"({'; '.join(self.unavailable_reason(n) for n in kept)}); keeping "
                                     "the served ones")
            else:
                self.record_problem = None
            log.info("served versions updated from the record", extra={"path": str(self.state_path)})

    def _record_trouble(self, problem: str) -> None:
        """Note why the record is not followed, logging it once per different problem."""
        if problem != self.record_problem:
            log.error("served-versions record not followed", extra={"reason": problem})
        self.record_problem = problem

    async def _watch(self) -> None:
        on_disk = available_models(self.settings.weights_dir)
        for name, deployment in list(self.registry.deployments.items()):
            newest = on_disk.get(name, [0])[-1]
            if newest <= deployment.served.version:
                continue
            stamp = _stamp(self.settings.weights_dir / name / f"{newest}.npz")
            if self.watch_refused.get((name, newest)) == stamp:
                continue  # refused as it is: reported once; tried again when the file changes
            plan = functools.partial(_load_newest, name=name, version=newest, on_disk=on_disk[name])
            try:
                await self.change(plan)
                self.watch_refused.pop((name, newest), None)
                log.info("new version loaded (watch)", extra={"model": name, "version": newest})
            except LifecycleError as exc:
                self.watch_refused[(name, newest)] = stamp
                self.registry.failures.setdefault((name, newest), exc.message)
                log.error("new version refused (watch)", extra={"model": name, "reason": exc.message})


def _stamp(path: Path) -> tuple[int, int]:
    """(mtime, size) of a file, to notice when it changes; (0, 0) if it is gone."""
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def _load_newest(state: State, name: str, version: int, on_disk: list[int]) -> State:
    return plan_load(state, name, {"version": version}, on_disk)
