"""Why this digit: the prediction and its integrated-gradients saliency (service/models/explain.py)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request

from service.api.deps import plane_of, query_ref
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
from service.codecs.images import MnistImage, mnist_image
from service.codecs.v1 import answers
from service.codecs.v1.parser import parse_single
from service.codecs.v1.schemas import Explanation, ImageExplanation, PredictRequest
from service.dataplane.plane import Inference, ModelRef
from service.models.explain import MAX_STEPS
from service.models.explain import Explanation as Found

router = APIRouter(prefix="/v1", tags=["explain"])
Steps = Annotated[int | None, Query(ge=1, le=MAX_STEPS, description=(
    "Integration steps, equal. Default: adaptive, 32 equal steps, then the worst halved until "
    f"`completeness_error` <= 1 % or {MAX_STEPS} steps."))]


def _explained(pixels: np.ndarray, inference: Inference, found: Found) -> dict[str, Any]:
    return answers.explanation(inference.model, inference.predictions, found)


@router.post("/explain", response_model=Explanation, responses=ERROR_RESPONSES,
             openapi_extra={**request_body(PredictRequest, {"pixels": example_digit()}), **MODEL_PARAMETERS})
async def explain(request: Request, steps: Steps = None) -> JSONResponse:
    """Predict the digit in one 28x28 image and show which pixels made it that digit."""
    content_type, body = request.headers.get("content-type"), await request.body()
    return JSONResponse(await plane_of(request).explain(
        query_ref(request), lambda _: parse_single(body, content_type), steps, _explained))


@router.post("/explain/image", response_model=ImageExplanation, responses=IMAGE_ERROR_RESPONSES,
             openapi_extra=IMAGE_REQUEST_BODY)
async def explain_image(request: Request, upload: Upload, model: ModelQuery = None,
                        version: VersionQuery = None, steps: Steps = None) -> JSONResponse:
    """Explain the digit in a PNG or JPEG image, as /v1/explain; `input` is the 28x28 image it saw."""
    settings = request.app.state.settings

    def encode(image: MnistImage, inference: Inference, found: Found) -> dict[str, Any]:
        result = answers.explanation(inference.model, inference.predictions, found)
        result["input"] = image.frame
        return result

    return JSONResponse(await plane_of(request).explain(
        ModelRef(model, version), lambda _: mnist_image(upload.data, settings.max_image_bytes,
                                                        settings.max_image_pixels, upload.loc),
        steps, encode))
