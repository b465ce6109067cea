"""One worker's models over time: loaded at start-up from the recorded state, changed by repository
calls (all or nothing, recorded before they take effect), and kept in step with the other workers.

Every worker polls the state file (`SYNC_SECONDS`) and applies what it says when it differs from
what the worker serves: a call answered by one worker reaches the others within seconds. With
MNIST_WATCH_SECONDS > 0, the weights directory is also polled: a newer version of a served model
appearing on disk is loaded as a replace, through the same checks (a refused one is not retried).
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
from service.models.loaded_model import LoadedModel
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
        deployments = self.registry.build(state, strict=False, loader=LoadedModel.load)
        default = choose_default(list(deployments), s.model,
                                 lambda name: recorded_accuracy(deployments[name].served))
        if default is None:
            raise ArtifactError(f"{s.weights_dir}: no artifacts (<model>/<version>.npz) could be loaded")
        if default not in deployments:
            reason = next((r for (n, _), r in self.registry.failures.items() if n == default), "")
            raise ArtifactError(f"model {default!r} cannot be loaded: {reason}")
        self.registry.default = default
        self.registry.swap(deployments)
        self.applied = self.registry.state()
        self.recorded = not record or self.applied == recorded
        if record and not self.recorded:
            try:
                write_state(self.state_path, self.applied)
                self.recorded = True
            except OSError as exc:  # e.g. a read-only image: served as is, and repository calls say so
                log.warning("served versions not recorded", extra={"path": str(self.state_path),
                                                                    "reason": str(exc)})

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
                log.error("served-versions record unreadable; keeping the served versions",
                          extra={"reason": str(exc)})
                return
            if recorded is None or recorded == self.applied:
                return
            deployments = await to_thread.run_sync(lambda: self.registry.build(recorded, strict=False))
            if self.registry.default not in deployments:
                log.error("recorded state drops the default model; not applied")
                return
            self.registry.swap(deployments)
            self.applied = recorded
            log.info("served versions updated from the record", extra={"path": str(self.state_path)})

    async def _watch(self) -> None:
        on_disk = available_models(self.settings.weights_dir)
        for name, deployment in list(self.registry.deployments.items()):
            newest = on_disk.get(name, [0])[-1]
            if newest <= deployment.served.version or (name, newest) in self.registry.failures:
                continue
            plan = functools.partial(_load_newest, name=name, version=newest, on_disk=on_disk[name])
            try:
                await self.change(plan)
                log.info("new version loaded (watch)", extra={"model": name, "version": newest})
            except LifecycleError as exc:
                self.registry.failures.setdefault((name, newest), exc.message)
                log.error("new version refused (watch)", extra={"model": name, "reason": exc.message})


def _load_newest(state: State, name: str, version: int, on_disk: list[int]) -> State:
    return plan_load(state, name, {"version": version}, on_disk)
