"""Why this digit: the prediction and its integrated-gradients saliency (service/models/explain.py)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request

from service.api import offload
from service.api.openapi import example_digit, request_body
from service.api.responses import JSONResponse
from service.api.routes.predict import Upload
from service.api.schemas import (
    ERROR_RESPONSES,
    IMAGE_ERROR_RESPONSES,
    IMAGE_REQUEST_BODY,
    MODEL_PARAMETERS,
    ModelQuery,
    VersionQuery,
)
from service.api.serving import answer, query_route, route_of
from service.codecs.images import mnist_input
from service.codecs.pixels import SIDE
from service.codecs.v1.parser import parse_single
from service.codecs.v1.schemas import Explanation, ImageExplanation, PredictRequest
from service.models.explain import MAX_STEPS, integrated_gradients
from service.models.registry import Route

router = APIRouter(prefix="/v1", tags=["explain"])
Steps = Annotated[int | None, Query(ge=1, le=MAX_STEPS, description=(
    "Integration steps, equal. Default: adaptive, 32 equal steps, then the worst halved until "
    f"`completeness_error` <= 1 % or {MAX_STEPS} steps."))]


def _explain(request: Request, route: Route, pixels: np.ndarray, steps: int | None) -> dict[str, Any]:
    """The prediction's answer plus the saliency of its digit (pixels: (1, 784))."""
    answered = answer(request, route, pixels)
    result = route.model.postprocess(answered)[0]
    found = integrated_gradients(route.model.inference, pixels[0], int(answered.digits[0]), steps)
    result.update({
        "saliency": np.round(found.saliency.reshape(SIDE, SIDE), 6),
        "method": "integrated_gradients", "baseline": "black",
        "logit": found.logit, "baseline_logit": found.baseline_logit,
        "completeness_error": found.completeness_error, "steps": found.steps,
    })
    return result


@router.post("/explain", response_model=Explanation, responses=ERROR_RESPONSES,
             openapi_extra={**request_body(PredictRequest, {"pixels": example_digit()}), **MODEL_PARAMETERS})
async def explain(request: Request, steps: Steps = None) -> JSONResponse:
    """Predict the digit in one 28x28 image and show which pixels made it that digit."""
    route, body = query_route(request), await request.body()
    content_type = request.headers.get("content-type")
    result = await offload.in_pool(request.app.state.work_limiter, lambda: _explain(
        request, route, parse_single(body, content_type), steps))
    return JSONResponse(result)


@router.post("/explain/image", response_model=ImageExplanation, responses=IMAGE_ERROR_RESPONSES,
             openapi_extra=IMAGE_REQUEST_BODY)
async def explain_image(request: Request, upload: Upload, model: ModelQuery = None,
                        version: VersionQuery = None, steps: Steps = None) -> JSONResponse:
    """Explain the digit in a PNG or JPEG image, as /v1/explain; `input` is the 28x28 image it saw."""
    settings, route = request.app.state.settings, route_of(request, model, version)

    def work() -> dict[str, Any]:
        image = mnist_input(upload.data, settings.max_image_bytes, settings.max_image_pixels, upload.loc)
        result = _explain(request, route, image.reshape(1, -1).astype(np.float32), steps)
        result["input"] = image
        return result

    return JSONResponse(await offload.in_pool(request.app.state.work_limiter, work))
