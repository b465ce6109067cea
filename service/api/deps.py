"""Route dependencies: the loaded model and the raw request body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.errors import APIError
from service.predictor import LoadedModel


def current_model(request: Request) -> LoadedModel:
    """The served model, or APIError(503) before it is loaded (for direct calls in handlers)."""
    model: LoadedModel | None = getattr(request.app.state, "model", None)
    if model is None:
        raise APIError(503, "no model is loaded yet")
    return model


async def loaded_model(request: Request) -> LoadedModel:
    """The served model, or 503 before it is loaded.

    Async on purpose: it only reads app state, and a sync dependency would cost every request
    a round trip through the thread pool before the (sync, CPU-bound) route's own.
    """
    return current_model(request)


async def raw_body(request: Request) -> bytes:
    """The body, already buffered (and size-checked) by the middleware."""
    return await request.body()


# Route parameter types, declared once for every router.
Model = Annotated[LoadedModel, Depends(loaded_model)]
RawBody = Annotated[bytes, Depends(raw_body)]
