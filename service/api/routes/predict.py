"""Digit prediction from pixel arrays and from image files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request

from service.api import offload
from service.api.deps import ImageUpload, image_upload
from service.api.direct_route import DirectRoute
from service.api.openapi import example_digit, request_body
from service.api.responses import JSONResponse
from service.api.schemas import (
    ERROR_RESPONSES,
    IMAGE_ERROR_RESPONSES,
    IMAGE_REQUEST_BODY,
    MODEL_PARAMETERS,
    ModelQuery,
    VersionQuery,
)
from service.api.serving import answer, compare_later, query_route, route_of
from service.codecs.images import mnist_input
from service.codecs.v1.parser import parse_batch, parse_single
from service.codecs.v1.schemas import (
    BatchPredictionResponse,
    BatchPredictRequest,
    ImagePrediction,
    Prediction,
    PredictRequest,
)
from service.models.loaded_model import LoadedModel
from service.models.registry import Route

router = APIRouter(prefix="/v1", tags=["predict"], route_class=DirectRoute)
Upload = Annotated[ImageUpload, Depends(image_upload)]
ReturnInput = Annotated[bool, Query(description="Add `input`: the 28x28 image the model saw.")]


def _answers(request: Request, route: Route, pixels: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    answered = answer(request, route, pixels)
    return answered.digits, route.model.postprocess(answered)


async def _predict(request: Request, parse: Callable[[bytes], np.ndarray]
                   ) -> tuple[LoadedModel, list[dict[str, Any]]]:
    """The version that answered and its answers for the images `parse` finds in the body, each
    step where its cost says."""
    route, body = query_route(request), await request.body()
    model = route.model
    pixels_digits_answers = await offload.parse_then_run(
        request.app.state.work_limiter, lambda: parse(body), offload.parse_seconds(body),
        lambda pixels: (pixels, *_answers(request, route, pixels)),
        lambda pixels: model.forward_seconds(len(pixels)))
    pixels, digits, answers = pixels_digits_answers
    compare_later(request, route, pixels, digits)
    return model, answers


@router.post("/predict", response_model=Prediction, responses=ERROR_RESPONSES,
             openapi_extra={**request_body(PredictRequest, {"pixels": example_digit()}), **MODEL_PARAMETERS})
async def predict(request: Request) -> JSONResponse:
    """Predict the digit in one 28x28 image."""
    content_type = request.headers.get("content-type")
    _, answers = await _predict(request, lambda body: parse_single(body, content_type))
    return JSONResponse(answers[0])


@router.post("/predict/batch", response_model=BatchPredictionResponse, responses=ERROR_RESPONSES,
             openapi_extra={**request_body(BatchPredictRequest, {"images": [example_digit()] * 2}),
                            **MODEL_PARAMETERS})
async def predict_batch(request: Request) -> JSONResponse:
    """Predict the digits in a batch of images, in order."""
    content_type, limit = request.headers.get("content-type"), request.app.state.settings.max_batch_size
    model, answers = await _predict(request, lambda body: parse_batch(body, content_type, limit))
    return JSONResponse({"predictions": answers, "model": model.ident})


@router.post("/predict/image", response_model=ImagePrediction, responses=IMAGE_ERROR_RESPONSES,
             openapi_extra=IMAGE_REQUEST_BODY)
async def predict_image(request: Request, upload: Upload, model: ModelQuery = None,
                        version: VersionQuery = None, return_input: ReturnInput = False) -> JSONResponse:
    """Predict the digit in a PNG or JPEG image of any size, dark on light or light on dark."""
    settings, route = request.app.state.settings, route_of(request, model, version)

    def work() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        image = mnist_input(upload.data, settings.max_image_bytes, settings.max_image_pixels, upload.loc)
        pixels = image.reshape(1, -1).astype(np.float32)
        digits, answers = _answers(request, route, pixels)
        return image, pixels, digits, answers[0]

    image, pixels, digits, result = await offload.in_pool(request.app.state.work_limiter, work)
    compare_later(request, route, pixels, digits)
    if return_input:
        result["input"] = image
    return JSONResponse(result)
