"""The Open Inference Protocol model-repository extension (as Triton and MLServer serve it): what is
on disk, and loading or unloading a version, with canary and shadow rollouts (service/models/
lifecycle.py). Every route needs `Authorization: Bearer <MNIST_ADMIN_TOKEN>`."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from service.admin import check_admin_token, load_model, repository_entries, unload_model
from service.api.deps import plane_of
from service.codecs.json_body import load_json
from service.codecs.v2.errors import PATH_PREFIX
from service.codecs.v2.schemas import V2_ERRORS
from service.errors import ServiceError


def require_admin(request: Request) -> None:
    """403 while MNIST_ADMIN_TOKEN is unset; 401 without the right bearer token (constant time)."""
    check_admin_token(request.app.state.settings.admin_token, request.headers.get("authorization"))


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
    parameters = (await _body(request)).get("parameters", {})
    if not isinstance(parameters, dict):
        raise ServiceError(400, "parameters must be a JSON object")
    return parameters

Parameters = Annotated[dict[str, Any], Depends(_parameters)]

@router.post("/index")
async def index(request: Request) -> Response:
    """Every model version on disk, its state (READY or UNAVAILABLE) and why; `{"ready": true}`
    lists only the loaded ones."""
    ready = (await _body(request)).get("ready", False)
    if not isinstance(ready, bool):
        raise ServiceError(400, f"ready must be true or false, got {ready!r}")
    entries = repository_entries(request.app.state.settings.weights_dir, plane_of(request).registry)
    entries = [e for e in entries if e["state"] == "READY" or not ready]
    return Response(orjson.dumps(entries), media_type="application/json")


@router.post("/models/{name}/load", response_class=Response, responses=EMPTY_OK)
async def load(request: Request, name: str, parameters: Parameters) -> Response:
    """Load a version (`parameters.version`, default the newest on disk), checked before it serves:
    `rollout` replace (default; promotes a candidate), canary with `percent`, or shadow."""
    await load_model(plane_of(request), name, parameters)
    return Response(status_code=200)


@router.post("/models/{name}/unload", response_class=Response, responses=EMPTY_OK)
async def unload(request: Request, name: str, parameters: Parameters) -> Response:
    """Unload the model, or with `parameters.version` the candidate's version (a rollback)."""
    await unload_model(plane_of(request), name, parameters)
    return Response(status_code=200)
