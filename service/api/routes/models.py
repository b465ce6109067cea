"""What is served, and what could be."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service.api.deps import plane_of
from service.api.direct_route import DirectRoute
from service.api.responses import JSONResponse
from service.api.schemas import ErrorResponse, ModelInfo, ModelList, ModelQuery, VersionQuery
from service.dataplane.plane import ModelRef
from service.models.repository import available_models

router = APIRouter(prefix="/v1", tags=["models"], route_class=DirectRoute)


@router.get("/model", response_model=ModelInfo, responses={
    404: {"model": ErrorResponse, "description": "No such model or version loaded."},
    422: {"model": ErrorResponse, "description": "Invalid query parameter."},
    503: {"model": ErrorResponse, "description": "No model loaded yet."}})
async def model_info(request: Request, model: ModelQuery = None,
                     version: VersionQuery = None) -> JSONResponse:
    """Describe a loaded model (default: the default model's served version)."""
    return JSONResponse(plane_of(request).model(ModelRef(model, version)).describe())


@router.get("/models", response_model=ModelList)
async def list_models(request: Request) -> JSONResponse:
    """List the models and versions on disk, every loaded version with its rollout and figures,
    the versions that failed their checks and why, and whether the served-versions record is
    followed."""
    found = available_models(request.app.state.settings.weights_dir)
    served: list[dict[str, Any]] = []
    manager = plane_of(request).manager
    registry = manager.registry if manager else None
    for name, deployment in sorted(registry.deployments.items() if registry else []):
        for model in deployment.versions():
            candidate = model is deployment.candidate
            canary = candidate and deployment.rollout == "canary"
            served.append({"name": name, "version": model.version,
                           "role": "candidate" if candidate else "served",
                           "rollout": deployment.rollout if candidate else None,
                           "percent": deployment.percent if canary else None, **model.stats.report()})
    default = registry.default_model() if registry else None
    unavailable = [{"name": name, "version": version, "state": "UNAVAILABLE", "reason": reason}
                   for (name, version), reason in sorted(registry.failures.items() if registry else [])
                   if registry is None or registry.loaded(name, version) is None]
    record = {"path": str(manager.state_path), "problem": manager.record_problem} if manager else None
    return JSONResponse({"models": [{"name": n, "versions": v} for n, v in found.items()],
                         "loaded": default.ident if default else None,
                         "default": registry.default if registry else None, "served": served,
                         "unavailable": unavailable, "record": record})
