"""Digit prediction from pixel arrays and from image files."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request

from service.api.deps import ImageUpload, Model, RawBody, image_upload
from service.api.errors import APIError
from service.api.openapi import example_digit, request_body
from service.api.responses import JSONResponse
from service.api.schemas import ERROR_RESPONSES, IMAGE_ERROR_RESPONSES, IMAGE_REQUEST_BODY
from service.codecs.images import mnist_input
from service.codecs.v1.parser import (
    check_fields,
    has_json_literals,
    images_from,
    integer_images,
    parse_json,
    require_json,
)
from service.codecs.v1.schemas import (
    BatchPredictionResponse,
    BatchPredictRequest,
    ImagePrediction,
    Prediction,
    PredictRequest,
)
from service.models.loaded_model import LoadedModel

router = APIRouter(prefix="/v1", tags=["predict"])
Upload = Annotated[ImageUpload, Depends(image_upload)]
ReturnInput = Annotated[bool, Query(description="Add `input`: the 28x28 image the model saw.")]


def _predict(request: Request, model: LoadedModel, pixels: Any) -> list[dict[str, Any]]:
    digits, proba = model.predict(pixels)
    request.app.state.metrics.observe_predictions(digits)
    return model.postprocess(digits, proba)


@router.post("/predict", response_model=Prediction, responses=ERROR_RESPONSES,
             openapi_extra=request_body(PredictRequest, {"pixels": example_digit()}))
def predict(request: Request, model: Model, body: RawBody) -> JSONResponse:
    """Predict the digit in one 28x28 image."""
    # one image: orjson beats the byte-level batch parser, whose NumPy passes have a fixed cost
    obj = parse_json(body, request.headers.get("content-type"))
    check_fields(obj, "pixels")
    pixels = images_from([obj["pixels"]], ["body", "pixels"], has_json_literals(body), single=True)
    return JSONResponse(_predict(request, model, pixels)[0])


@router.post("/predict/batch", response_model=BatchPredictionResponse, responses=ERROR_RESPONSES,
             openapi_extra=request_body(BatchPredictRequest, {"images": [example_digit()] * 2}))
def predict_batch(request: Request, model: Model, body: RawBody) -> JSONResponse:
    """Predict the digits in a batch of images, in order."""
    require_json(request.headers.get("content-type"))
    limit = request.app.state.settings.max_batch_size
    fast = integer_images(body, "images")
    if fast is not None and len(fast) <= limit:
        return JSONResponse({"predictions": _predict(request, model, fast), "model": model.ident})
    obj = parse_json(body, request.headers.get("content-type"))
    check_fields(obj, "images")
    images = obj["images"]
    if not isinstance(images, list):
        raise APIError(422, "images: expected a list of images",
                       [{"loc": ["body", "images"], "msg": "expected a list", "type": "list_type"}])
    if not images:
        raise APIError(422, "images: the batch is empty; send 1 to "
                       f"{limit} images", [{"loc": ["body", "images"], "msg": "empty batch",
                                             "type": "too_short"}])
    if len(images) > limit:
        raise APIError(422, f"images: {len(images)} images is more than the limit of {limit}",
                       [{"loc": ["body", "images"], "msg": f"at most {limit} images", "type": "too_long"}])
    pixels = images_from(images, ["body", "images"], has_json_literals(body))
    return JSONResponse({"predictions": _predict(request, model, pixels), "model": model.ident})


@router.post("/predict/image", response_model=ImagePrediction, responses=IMAGE_ERROR_RESPONSES,
             openapi_extra=IMAGE_REQUEST_BODY)
def predict_image(request: Request, model: Model, upload: Upload,
                  return_input: ReturnInput = False) -> JSONResponse:
    """Predict the digit in a PNG or JPEG image of any size, dark on light or light on dark."""
    settings = request.app.state.settings
    pixels = mnist_input(upload.data, settings.max_image_bytes, settings.max_image_pixels, upload.loc)
    answer = _predict(request, model, pixels.reshape(1, -1).astype(np.float32))[0]
    if return_input:
        answer["input"] = pixels
    return JSONResponse(answer)
