"""Route dependencies: the loaded model and the raw request body."""

from __future__ import annotations

from fastapi import Request

from service.errors import APIError
from service.predictor import LoadedModel


def loaded_model(request: Request) -> LoadedModel:
    model: LoadedModel | None = getattr(request.app.state, "model", None)
    if model is None:
        raise APIError(503, "no model is loaded yet")
    return model


async def raw_body(request: Request) -> bytes:
    """The body, already buffered (and size-checked) by the middleware."""
    return await request.body()
