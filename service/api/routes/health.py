"""Liveness, readiness and Prometheus metrics (not counted as traffic)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from service.api.direct_route import DirectRoute
from service.api.errors import APIError
from service.api.responses import JSONResponse
from service.api.schemas import Health
from service.api.serving import manager_of

router = APIRouter(tags=["operations"], route_class=DirectRoute)


@router.get("/health/live", response_model=Health)
async def live() -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


@router.get("/health/ready", response_model=Health, responses={503: {"description": "No model loaded."}})
async def ready(request: Request) -> JSONResponse:
    """200 once the default model is loaded, else 503."""
    model = manager_of(request).registry.default_model()
    if model is None:
        raise APIError(503, "no model is loaded yet")
    return JSONResponse({"status": "ok", "model": model.ident})


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}})
def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
