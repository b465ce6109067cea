"""Digit prediction from pixel arrays and from image files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request

from service.api import offload
from service.api.deps import ImageUpload, Model, current_model, image_upload
from service.api.direct_route import DirectRoute
from service.api.openapi import example_digit, request_body
from service.api.responses import JSONResponse
from service.api.schemas import ERROR_RESPONSES, IMAGE_ERROR_RESPONSES, IMAGE_REQUEST_BODY
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

router = APIRouter(prefix="/v1", tags=["predict"], route_class=DirectRoute)
Upload = Annotated[ImageUpload, Depends(image_upload)]
ReturnInput = Annotated[bool, Query(description="Add `input`: the 28x28 image the model saw.")]


def _answers(request: Request, model: LoadedModel, pixels: Any) -> list[dict[str, Any]]:
    digits, proba = model.predict(pixels)
    request.app.state.metrics.observe_predictions(digits)
    return model.postprocess(digits, proba)


async def _predict(request: Request, parse: Callable[[bytes], np.ndarray]
                   ) -> tuple[LoadedModel, list[dict[str, Any]]]:
    """The model and its answers for the images `parse` finds in the body, each step where its
    cost says."""
    model, body = current_model(request), await request.body()
    return model, await offload.parse_then_run(
        request.app.state.work_limiter, lambda: parse(body), offload.parse_seconds(body),
        lambda pixels: _answers(request, model, pixels), lambda pixels: model.forward_seconds(len(pixels)))


@router.post("/predict", response_model=Prediction, responses=ERROR_RESPONSES,
             openapi_extra=request_body(PredictRequest, {"pixels": example_digit()}))
async def predict(request: Request) -> JSONResponse:
    """Predict the digit in one 28x28 image."""
    content_type = request.headers.get("content-type")
    _, answers = await _predict(request, lambda body: parse_single(body, content_type))
    return JSONResponse(answers[0])


@router.post("/predict/batch", response_model=BatchPredictionResponse, responses=ERROR_RESPONSES,
             openapi_extra=request_body(BatchPredictRequest, {"images": [example_digit()] * 2}))
async def predict_batch(request: Request) -> JSONResponse:
    """Predict the digits in a batch of images, in order."""
    content_type, limit = request.headers.get("content-type"), request.app.state.settings.max_batch_size
    model, answers = await _predict(request, lambda body: parse_batch(body, content_type, limit))
    return JSONResponse({"predictions": answers, "model": model.ident})


@router.post("/predict/image", response_model=ImagePrediction, responses=IMAGE_ERROR_RESPONSES,
             openapi_extra=IMAGE_REQUEST_BODY)
async def predict_image(request: Request, model: Model, upload: Upload,
                        return_input: ReturnInput = False) -> JSONResponse:
    """Predict the digit in a PNG or JPEG image of any size, dark on light or light on dark."""
    settings = request.app.state.settings

    def work() -> tuple[np.ndarray, dict[str, Any]]:
        pixels = mnist_input(upload.data, settings.max_image_bytes, settings.max_image_pixels, upload.loc)
        return pixels, _answers(request, model, pixels.reshape(1, -1).astype(np.float32))[0]

    pixels, answer = await offload.in_pool(request.app.state.work_limiter, work)
    if return_input:
        answer["input"] = pixels
    return JSONResponse(answer)
