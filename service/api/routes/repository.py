"""The Open Inference Protocol model-repository extension (as Triton and MLServer serve it): what is
on disk, and loading or unloading a version, with canary and shadow rollouts (service/models/
lifecycle.py). Every route needs `Authorization: Bearer <MNIST_ADMIN_TOKEN>`."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from service.api.deps import plane_of
from service.codecs.json_body import load_json
from service.codecs.v2.errors import PATH_PREFIX
from service.codecs.v2.schemas import V2_ERRORS
from service.errors import ServiceError
from service.models.lifecycle import (
    LOAD_PARAMETERS,
    UNLOAD_PARAMETERS,
    LifecycleError,
    plan_load,
    plan_unload,
)
from service.models.repository import available_models
from service.models.served_state import State


def require_admin(request: Request) -> None:
    """403 while MNIST_ADMIN_TOKEN is unset; 401 without the right bearer token (constant time)."""
    token = request.app.state.settings.admin_token
    if token is None:
        raise ServiceError(403, "the model-repository routes are off: set MNIST_ADMIN_TOKEN and send "
                       "`Authorization: Bearer <token>`")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                              token.get_secret_value().encode()):
        raise ServiceError(401, "missing or wrong bearer token (Authorization: Bearer <MNIST_ADMIN_TOKEN>)")


ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {**V2_ERRORS["4XX"], "description": text} for code, text in (
        (401, "Missing or wrong bearer token."),
        (403, "MNIST_ADMIN_TOKEN is unset: the repository routes are off."),
        (409, "Not done: a version failed its checks, a rollout is in the way, or the served versions "
              "cannot be recorded."))}
router = APIRouter(prefix=f"{PATH_PREFIX}/repository", tags=["model-repository"],
                   dependencies=[Depends(require_admin)], responses={**V2_ERRORS, **ADMIN_ERRORS})
EMPTY_OK: dict[int | str, dict[str, Any]] = {200: {"description": "Done (empty body)."}}


async def _body(request: Request) -> dict[str, Any]:
    """The optional JSON body as an object (empty: {}); 400 if it is something else."""
    raw = await request.body()
    body = load_json(raw, " in the request") if raw.strip() else {}
    if not isinstance(body, dict):
        raise ServiceError(400, "the body must be a JSON object")
    return body


async def _parameters(request: Request) -> dict[str, Any]:
    """The body's `parameters`; 400 naming any this service does not take (Triton's `config` and
    `file:` overrides among them), rather than answering 200 and ignoring it."""
    parameters = (await _body(request)).get("parameters", {})
    if not isinstance(parameters, dict):
        raise ServiceError(400, "parameters must be a JSON object")
    known = LOAD_PARAMETERS if request.url.path.endswith("/load") else UNLOAD_PARAMETERS
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ServiceError(400, f"parameters.{unknown[0]} is not supported; this call takes "
                           + ", ".join(known))
    return parameters


Parameters = Annotated[dict[str, Any], Depends(_parameters)]


def _entries(request: Request) -> list[dict[str, Any]]:
    """One entry per version on disk: READY if loaded here (served or a rollout's candidate), else
    UNAVAILABLE and why."""
    registry = plane_of(request).models().registry
    entries = []
    for name, versions in available_models(request.app.state.settings.weights_dir).items():
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


@router.post("/index")
async def index(request: Request) -> Response:
    """Every model version on disk, its state (READY or UNAVAILABLE) and why; `{"ready": true}`
    lists only the loaded ones."""
    ready = (await _body(request)).get("ready", False)
    if not isinstance(ready, bool):
        raise ServiceError(400, f"ready must be true or false, got {ready!r}")
    entries = [e for e in _entries(request) if e["state"] == "READY" or not ready]
    return Response(orjson.dumps(entries), media_type="application/json")


async def _change(request: Request, plan: Any) -> None:
    try:
        await plane_of(request).models().change(plan)
    except LifecycleError as exc:
        raise ServiceError(exc.status, exc.message) from None


@router.post("/models/{name}/load", response_class=Response, responses=EMPTY_OK)
async def load(request: Request, name: str, parameters: Parameters) -> Response:
    """Load a version (`parameters.version`, default the newest on disk), checked before it serves:
    `rollout` replace (default; promotes a candidate), canary with `percent`, or shadow."""
    on_disk = available_models(request.app.state.settings.weights_dir).get(name, [])

    def plan(state: State) -> State:
        return plan_load(state, name, parameters, on_disk)

    await _change(request, plan)
    return Response(status_code=200)


@router.post("/models/{name}/unload", response_class=Response, responses=EMPTY_OK)
async def unload(request: Request, name: str, parameters: Parameters) -> Response:
    """Unload the model, or with `parameters.version` the candidate's version (a rollback)."""
    settings, registry = request.app.state.settings, plane_of(request).models().registry
    on_disk = available_models(settings.weights_dir).get(name, [])

    def plan(state: State) -> State:
        return plan_unload(state, name, parameters, on_disk, registry.default)

    await _change(request, plan)
    return Response(status_code=200)

