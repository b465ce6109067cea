"""The model-repository calls, whichever protocol brings them (REST: service/api/routes/repository.py,
gRPC: service/grpc/repository.py): the admin-token check, the index of the versions on disk, and
loading or unloading a version through the lifecycle (service/models/lifecycle.py)."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from service.dataplane.plane import DataPlane
from service.errors import ServiceError
from service.models.lifecycle import (
    LOAD_PARAMETERS,
    UNLOAD_PARAMETERS,
    LifecycleError,
    plan_load,
    plan_unload,
)
from service.models.registry import Registry
from service.models.repository import available_models
from service.models.served_state import State


def check_admin_token(token: SecretStr | None, authorization: str | None) -> None:
    """403 while MNIST_ADMIN_TOKEN is unset; 401 without `Bearer <token>` (compared in constant time)."""
    if token is None:
        raise ServiceError(403, "the model-repository routes are off: set MNIST_ADMIN_TOKEN and send "
                           "`Authorization: Bearer <token>`")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                              token.get_secret_value().encode()):
        raise ServiceError(401, "missing or wrong bearer token (Authorization: Bearer <MNIST_ADMIN_TOKEN>)")


def repository_entries(weights_dir: Path, registry: Registry) -> list[dict[str, Any]]:
    """One entry per version on disk: READY if loaded here (served or a rollout's candidate), else
    UNAVAILABLE and why."""
    entries = []
    for name, versions in available_models(weights_dir).items():
        deployment = registry.deployments.get(name)
        for version in versions:
            if deployment is not None and version == deployment.served.version:
                state, reason = "READY", "served"
            elif deployment is not None and deployment.candidate and version == deployment.candidate.version:
                state, reason = "READY", f"candidate ({deployment.rollout})"
            else:
                state = "UNAVAILABLE"
                reason = registry.failures.get((name, version)) or (
                    "not loaded" if deployment is not None else "model not loaded")
            entries.append({"name": name, "version": str(version), "state": state, "reason": reason})
    return entries


def _check_parameters(parameters: dict[str, Any], known: tuple[str, ...]) -> None:
    """400 naming a parameter this service does not take (Triton's `config` and `file:` overrides
    among them), rather than answering 200 and ignoring it."""
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ServiceError(400, f"parameters.{unknown[0]} is not supported; this call takes "
                           + ", ".join(known))


async def _change(plane: DataPlane, plan: Any) -> None:
    try:
        await plane.models().change(plan)
    except LifecycleError as exc:
        raise ServiceError(exc.status, exc.message) from None


async def load_model(plane: DataPlane, name: str, parameters: dict[str, Any]) -> None:
    """Load a version (`version`, default the newest on disk), checked before it serves: `rollout`
    replace (default; promotes a candidate), canary with `percent`, or shadow."""
    _check_parameters(parameters, LOAD_PARAMETERS)
    on_disk = available_models(plane.settings.weights_dir).get(name, [])

    def plan(state: State) -> State:
        return plan_load(state, name, parameters, on_disk)

    await _change(plane, plan)


async def unload_model(plane: DataPlane, name: str, parameters: dict[str, Any]) -> None:
    """Unload the model, or with `version` the candidate's version (a rollback)."""
    _check_parameters(parameters, UNLOAD_PARAMETERS)
    on_disk = available_models(plane.settings.weights_dir).get(name, [])
    registry = plane.models().registry

    def plan(state: State) -> State:
        return plan_unload(state, name, parameters, on_disk, registry.default)

    await _change(plane, plan)
