"""Digit prediction from pixel arrays and from image files: decode with the /v1 codec, answer with
the data plane, encode with the /v1 codec."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request

from service.api.deps import ImageUpload, image_upload, plane_of, query_ref
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
from service.codecs.images import MnistImage, mnist_image
from service.codecs.v1 import answers
from service.codecs.v1.parser import parse_batch, parse_single
from service.codecs.v1.schemas import (
    BatchPredictionResponse,
    BatchPredictRequest,
    ImagePrediction,
    Prediction,
    PredictRequest,
)
from service.dataplane import offload
from service.dataplane.plane import Inference, ModelRef

router = APIRouter(prefix="/v1", tags=["predict"], route_class=DirectRoute)
Upload = Annotated[ImageUpload, Depends(image_upload)]
ReturnInput = Annotated[bool, Query(description="Add `input`: the 28x28 image the model saw.")]


def _one(pixels: np.ndarray, inference: Inference) -> dict[str, Any]:
    return answers.predictions(inference.model, inference.predictions)[0]


def _batch(pixels: np.ndarray, inference: Inference) -> dict[str, Any]:
    return {"predictions": answers.predictions(inference.model, inference.predictions),
            "model": inference.model.ident}


@router.post("/predict", response_model=Prediction, responses=ERROR_RESPONSES,
             openapi_extra={**request_body(PredictRequest, {"pixels": example_digit()}), **MODEL_PARAMETERS})
async def predict(request: Request) -> JSONResponse:
    """Predict the digit in one 28x28 image."""
    content_type, body = request.headers.get("content-type"), await request.body()
    return JSONResponse(await plane_of(request).infer(
        query_ref(request), lambda _: parse_single(body, content_type), _one, offload.parse_seconds(body),
        request.is_disconnected))


@router.post("/predict/batch", response_model=BatchPredictionResponse, responses=ERROR_RESPONSES,
             openapi_extra={**request_body(BatchPredictRequest, {"images": [example_digit()] * 2}),
                            **MODEL_PARAMETERS})
async def predict_batch(request: Request) -> JSONResponse:
    """Predict the digits in a batch of images, in order."""
    content_type, body = request.headers.get("content-type"), await request.body()
    limit = request.app.state.settings.max_batch_size
    return JSONResponse(await plane_of(request).infer(
        query_ref(request), lambda _: parse_batch(body, content_type, limit), _batch,
        offload.parse_seconds(body), request.is_disconnected))


@router.post("/predict/image", response_model=ImagePrediction, responses=IMAGE_ERROR_RESPONSES,
             openapi_extra=IMAGE_REQUEST_BODY)
async def predict_image(request: Request, upload: Upload, model: ModelQuery = None,
                        version: VersionQuery = None, return_input: ReturnInput = False) -> JSONResponse:
    """Predict the digit in a PNG or JPEG image of any size, dark on light or light on dark."""
    settings = request.app.state.settings

    def decode(_: object) -> MnistImage:
        return mnist_image(upload.data, settings.max_image_bytes, settings.max_image_pixels, upload.loc)

    def encode(image: MnistImage, inference: Inference) -> dict[str, Any]:
        result = _one(image.images, inference)
        if return_input:
            result["input"] = image.frame
        return result

    return JSONResponse(await plane_of(request).infer(
        ModelRef(model, version), decode, encode, offload.ALWAYS_POOLED, request.is_disconnected))
