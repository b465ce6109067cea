"""What is served, and what could be."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.deps import Model
from service.api.direct_route import DirectRoute
from service.api.responses import JSONResponse
from service.api.schemas import ModelInfo, ModelList
from service.models.loaded_model import LoadedModel
from service.models.repository import available_models

router = APIRouter(prefix="/v1", tags=["models"], route_class=DirectRoute)


@router.get("/model", response_model=ModelInfo)
async def model_info(model: Model) -> JSONResponse:
    """Describe the loaded model: architecture, input spec, metrics, file hash."""
    return JSONResponse(model.describe())


@router.get("/models", response_model=ModelList)
async def list_models(request: Request) -> JSONResponse:
    """List the models and versions in the weights directory and which one is loaded."""
    found = available_models(request.app.state.settings.weights_dir)
    model: LoadedModel | None = getattr(request.app.state, "model", None)
    return JSONResponse({"models": [{"name": n, "versions": v} for n, v in found.items()],
                         "loaded": model.ident if model else None})
