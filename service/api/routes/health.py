"""Liveness, readiness and Prometheus metrics (not counted as traffic)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from starlette.responses import Response

from service.api.deps import plane_of
from service.api.direct_route import DirectRoute
from service.api.responses import JSONResponse
from service.api.schemas import Health
from service.errors import ServiceError

router = APIRouter(tags=["operations"], route_class=DirectRoute)


@router.get("/health/live", response_model=Health)
async def live() -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


@router.get("/health/ready", response_model=Health, responses={503: {"description": "No model loaded."}})
async def ready(request: Request) -> JSONResponse:
    """200 once the default model is loaded, else 503 saying why it is not."""
    manager = plane_of(request).models()
    model = manager.registry.default_model()
    if model is None:
        raise ServiceError(503, f"the default model {manager.registry.default!r} is unavailable: "
                           f"{manager.unavailable_reason(manager.registry.default or '')}")
    return JSONResponse({"status": "ok", "model": model.ident})


@router.get("/metrics", response_class=Response, responses={200: {
    "content": {CONTENT_TYPE_LATEST: {}, OPENMETRICS: {}},
    "description": "Prometheus text, or OpenMetrics text when the Accept header asks for it."}})
async def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format (OpenMetrics if asked for)."""
    body, content_type = request.app.state.metrics.render(request.headers.get("accept"))
    return Response(body, media_type=content_type)
