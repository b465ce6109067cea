"""The models served at once and how a request finds its version.

For each model name a `Deployment`: the served version and, during a rollout, a candidate:

    canary  P %   of the model's unpinned requests are answered by the candidate; the served
                  version recomputes them off the response path, for the agreement figure
    shadow        every unpinned request is answered by the served version; the candidate also
                  computes it, off the response path

A request that names a version (`?version=`, `/versions/{v}`) gets exactly that one, and counts
in no comparison. The deployments dict is replaced whole on every change, never edited: a
request holds the LoadedModel it started with, so it finishes on that version whatever happens.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from service.models.checks import LoadRefused, load_checked
from service.models.loaded_model import LoadedModel
from service.models.served_state import Candidate, Rollout, Served, State

log = logging.getLogger("service")


class NotServed(LookupError):
    """No loaded model or version by that name (the message says what is loaded)."""


@dataclass(frozen=True)
class Deployment:
    served: LoadedModel
    candidate: LoadedModel | None = None
    rollout: Rollout | None = None
    percent: float = 0.0

    def versions(self) -> list[LoadedModel]:
        return [self.served] if self.candidate is None else [self.served, self.candidate]


@dataclass(frozen=True)
class Route:
    """Who answers a request, and who also computes it off the response path (for a candidate's
    agreement with the served version; `candidate` is the one whose figures it updates)."""

    model: LoadedModel
    compare: LoadedModel | None = None
    candidate: LoadedModel | None = None


Loader = Callable[[Path], LoadedModel]


class Registry:
    def __init__(self, weights_dir: Path, min_accuracy: float, default: str | None = None) -> None:
        self.weights_dir, self.min_accuracy = weights_dir, min_accuracy
        self.deployments: dict[str, Deployment] = {}
        self.default: str | None = default
        self.failures: dict[tuple[str, int], str] = {}  # (name, version): why it did not load
        self.random = random.Random()
        self.on_swap: Callable[[dict[str, Deployment]], None] | None = None  # e.g. the metrics

    # ---- routing

    def route(self, name: str | None = None, version: str | None = None) -> Route:
        deployments = self.deployments  # one read: the routing below sees one consistent set
        name = name or self.default
        deployment = deployments.get(name) if name else None
        if deployment is None:
            loaded = ", ".join(f"'{n}'" for n in sorted(deployments)) or "none"
            raise NotServed(f"unknown model '{name}': not loaded; loaded models: {loaded}")
        if version is not None:
            for model in deployment.versions():
                if str(model.version) == version:
                    return Route(model)
            served = " and ".join(str(m.version) for m in deployment.versions())
            raise NotServed(f"unknown version '{version}' of model '{name}': not loaded; loaded "
                            f"versions: {served}")
        candidate = deployment.candidate
        if candidate is None:
            return Route(deployment.served)
        if deployment.rollout == "shadow":
            return Route(deployment.served, compare=candidate, candidate=candidate)
        if self.random.random() * 100 < deployment.percent:
            return Route(candidate, compare=deployment.served, candidate=candidate)
        return Route(deployment.served)

    def pick(self, name: str | None = None, version: str | None = None) -> LoadedModel:
        """The version named, else the served one: never a rollout's choice (to describe a model)."""
        route = self.route(name, version)
        if version is not None:
            return route.model
        return self.deployments[name or self.default or ""].served

    def default_model(self) -> LoadedModel | None:
        deployment = self.deployments.get(self.default or "")
        return deployment.served if deployment else None

    # ---- the recorded state and applying one

    def state(self) -> State:
        state: State = {}
        for name, d in self.deployments.items():
            candidate = None if d.candidate is None or d.rollout is None else Candidate(
                d.candidate.version, d.rollout, d.percent)
            state[name] = Served(d.served.version, candidate)
        return state

    def loaded(self, name: str, version: int) -> LoadedModel | None:
        for deployment in self.deployments.values():
            for model in deployment.versions():
                if model.name == name and model.version == version:
                    return model
        return None

    def _load(self, name: str, version: int, loader: Loader) -> LoadedModel:
        reused = self.loaded(name, version)
        if reused is not None:
            return reused
        try:
            model = loader(self.weights_dir / name / f"{version}.npz")
        except LoadRefused as exc:
            self.failures[(name, version)] = str(exc)
            raise
        self.failures.pop((name, version), None)
        return model

    def build(self, state: State, strict: bool, loader: Loader | None = None,
              report: bool = True) -> dict[str, Deployment]:
        """Deployments for `state`, loading (and checking) the versions not loaded yet. `strict`:
        the first refusal is raised (a repository call: all or nothing); else a model whose version
        is refused is left out (in `failures`) and, with `report`, logged (following another
        worker; start-up reports them itself, once it knows whether anything serves)."""
        loader = loader or (lambda path: load_checked(path, self.min_accuracy))
        built: dict[str, Deployment] = {}
        for name, served in sorted(state.items()):
            if served.version is None:
                continue
            try:
                model = self._load(name, served.version, loader)
                c = served.candidate
                candidate = self._load(name, c.version, loader) if c is not None else None
            except LoadRefused as exc:
                if strict:
                    raise
                if report:
                    log.error("model not loaded", extra={"model": name, "reason": str(exc)})
                continue
            built[name] = Deployment(model, candidate, c.rollout if c else None, c.percent if c else 0.0)
        return built

    def swap(self, deployments: dict[str, Deployment]) -> None:
        """Serve `deployments` from now on, in one step."""
        self.deployments = deployments
        if self.on_swap is not None:
            self.on_swap(deployments)
