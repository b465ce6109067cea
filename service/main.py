"""The FastAPI app: settings, the model loaded once at start-up onto `app.state`, routes; the
lifespan also runs the worker's gRPC server (service/grpc) on the same data plane.

`uvicorn --factory service.main:create_app` or the `mnist-serve` command start it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from service.api.direct_route import DirectDispatch
from service.api.handlers import install_error_handlers, service_error_response
from service.api.logs import AccessLog, configure
from service.api.middleware import RequestContextMiddleware
from service.api.responses import JSONResponse
from service.api.routes import (
    bench,
    docs,
    explain,
    health,
    models,
    page,
    predict,
    repository,
    v2,
    v2_extensions,
)
from service.config import Settings, get_settings
from service.dataplane.plane import DataPlane
from service.grpc.server import start_grpc
from service.metrics import Metrics
from service.models.manager import ModelManager
from service.process import freeze_start_up_objects, prepare, unfreeze_objects

log = logging.getLogger("service")

DESCRIPTION = """Predicts handwritten digits (MNIST) with a network trained in NumPy.

Send raw 0-255 grayscale pixels, white digit on black, as 28 rows of 28 numbers or 784 numbers,
or a PNG/JPEG picture of a digit to `/v1/predict/image`. Draw one in the browser at `/`.
Every error has the body `{"error": {"code", "message", "details", "request_id"}}`.
"""


def start_models(settings: Settings, record: bool = True, pin: bool = True) -> ModelManager:
    """Load the served versions (ArtifactError says which file and why the default cannot be)."""
    manager = ModelManager(settings)
    manager.start(record=record, pin=pin)
    return manager


def telemetry_config() -> TelemetryConfig:
    """FastAPI's OpenTelemetry support, on when asked for with FASTAPI_OTEL_AUTO_CONFIGURE=true
    (FastAPI's own switch); else off, since checking for providers costs every request ~2 %."""
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return {}
    return {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings | None = None, load: bool = True, pin: bool = True) -> FastAPI:
    """Build the app; with `load`, the lifespan loads the models before serving (with `pin`, a
    pinned MNIST_VERSION applied over the record)."""
    settings = settings or get_settings()
    access_log = AccessLog(configure(settings.log_level), enabled=settings.access_log)
    metrics = Metrics(loaded=lambda: plane.loaded_versions())
    plane = DataPlane(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prepare(settings.blas_threads)  # per process, so each uvicorn worker applies it
        if not load:
            yield
            access_log.flush()
            return
        manager = ModelManager(settings)
        manager.start(pin=pin)
        plane.manager = manager
        for deployment in manager.registry.deployments.values():
            for model in deployment.versions():
                batcher = plane.batcher(model)  # decided at start-up: a conv network probes the BLAS
                log.info("model loaded", extra={"model": model.ident, "path": str(model.artifact.path),
                                                "sha256": model.sha256,
                                                "batch_max_size": batcher.max_size if batcher else 1})
        freeze_start_up_objects()
        following = asyncio.get_running_loop().create_task(manager.follow())
        grpc_server = await start_grpc(settings, plane, access_log, app.title, app.version)
        if grpc_server is not None:
            grpc_server.drain_on_signals()
        try:
            yield
        finally:
            following.cancel()
            if grpc_server is not None:
                await grpc_server.stop()  # drains, or waits out the drain the signal started
            access_log.flush()  # the last requests' lines, before the loop that would write them ends
            unfreeze_objects()

    # docs_url/redoc_url None: routes/docs.py serves both pages with their assets from this server
    app = FastAPI(title="mnist-serve", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  default_response_class=JSONResponse, telemetry=telemetry_config(), docs_url=None,
                  redoc_url=None)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.dataplane = plane
    install_error_handlers(app)
    # The prediction routes first: routes are matched in order, and these are the traffic
    app.include_router(predict.router)
    app.include_router(v2.infer_router)
    app.include_router(explain.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(v2_extensions.router)  # first: /v2/models/stats is not a model's metadata
    app.include_router(v2.router)
    app.include_router(repository.router)
    app.include_router(page.router)
    app.include_router(docs.router)
    if settings.benchmark_routes:
        app.include_router(bench.router)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, access_log=access_log,
                       max_body_bytes=settings.max_body_bytes, body_timeout=settings.body_timeout_seconds,
                       plane=plane, direct=DirectDispatch([*predict.router.routes, *v2.infer_router.routes],
                                                          service_error_response))
    return app


def create_following_app() -> FastAPI:
    """The app `mnist-serve` runs in its workers once it has recorded the served versions itself:
    they follow the record, and never apply a pinned version again over a repository call another
    worker answered meanwhile."""
    return create_app(pin=False)
