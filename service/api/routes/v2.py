"""Open Inference Protocol (KServe v2) REST endpoints over the loaded model, with Triton's binary
tensor data extension (service/codecs/v2/protocol.py), so Triton/KServe clients such as tritonclient work."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import Response

from service.api import offload
from service.api.direct_route import DirectRoute
from service.api.openapi import BINARY, example_digit, request_body
from service.api.responses import JSONResponse
from service.api.serving import answer, compare_later, manager_of, route_of
from service.codecs.pixels import SIDE
from service.codecs.v2.protocol import (
    PATH_PREFIX,
    InferenceRequest,
    encode_response,
    model_outputs,
    outputs_metadata,
    parse_infer_request,
)
from service.codecs.v2.schemas import (
    INPUT_NAME,
    V2_ERRORS,
    InferenceRequestBody,
    InferenceResponse,
    ModelMetadata,
    ServerMetadata,
)
from service.models.registry import Route

router = APIRouter(prefix=PATH_PREFIX, tags=["open-inference-protocol"], route_class=DirectRoute)
EXTENSIONS = ["binary_tensor_data", "model_repository"]
EMPTY_OK: dict[int | str, dict[str, Any]] = {200: {"description": "Yes (empty body)."},
                                             "4XX": V2_ERRORS["4XX"]}




INFER_BODY = request_body(InferenceRequestBody, {
    "id": "example-1",
    "inputs": [{"name": INPUT_NAME, "shape": [1, SIDE, SIDE], "datatype": "UINT8",
                "data": [example_digit()]}],
    "outputs": [{"name": "digit"}, {"name": "probabilities"}]})
INFER_BODY["requestBody"]["content"]["application/octet-stream"] = {"schema": BINARY, "description": (
    "Binary tensor data extension: the JSON request, then each input with parameters.binary_data_size "
    "as raw little-endian bytes; the Inference-Header-Content-Length header gives the JSON's length.")}
INFER_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/octet-stream": {}},
    "description": "JSON, or with binary outputs: JSON then raw tensor bytes (Inference-Header-Content-"
                   "Length gives the JSON's length)."}, **V2_ERRORS}


@router.get("/health/live", response_class=Response, responses=EMPTY_OK)
async def server_live() -> Response:
    """The server is live."""
    return Response(status_code=200)


@router.get("/health/ready", response_class=Response, responses={**EMPTY_OK, 503: V2_ERRORS[503]})
async def server_ready(request: Request) -> Response:
    """200 once the model is loaded and ready for inference."""
    manager_of(request)
    return Response(status_code=200)


@router.get("", response_model=ServerMetadata)
async def server_metadata(request: Request) -> JSONResponse:
    """Server name, version and the protocol extensions it supports."""
    return JSONResponse({"name": request.app.title, "version": request.app.version,
                         "extensions": EXTENSIONS})


def _metadata(request: Request, name: str, version: str | None = None) -> dict[str, Any]:
    route_of(request, name, version)  # 404 unless loaded
    registry = manager_of(request).registry
    model = registry.pick(name, version)  # the outputs are those of the served version, or the one named
    versions = [str(m.version) for m in registry.deployments[name].versions()]
    return {"name": name, "versions": versions if version is None else [version], "platform": "numpy",
            # [-1, 784] and [-1, 1, 28, 28] are accepted as well (see the README)
            "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, SIDE, SIDE]}],
            "outputs": outputs_metadata(model.has_decision)}


@router.get("/models/{name}", response_model=ModelMetadata, responses=V2_ERRORS)
async def model_metadata(request: Request, name: str) -> JSONResponse:
    """The model's versions, platform, inputs and outputs (-1: any batch size)."""
    return JSONResponse(_metadata(request, name))


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=V2_ERRORS)
async def model_version_metadata(request: Request, name: str, version: str) -> JSONResponse:
    """The metadata of one version of the model."""
    return JSONResponse(_metadata(request, name, version))


@router.get("/models/{name}/ready", response_class=Response, responses={**EMPTY_OK, **V2_ERRORS})
async def model_ready(request: Request, name: str) -> Response:
    """200 if the model is ready for inference."""
    route_of(request, name)
    return Response(status_code=200)


@router.get("/models/{name}/versions/{version}/ready", response_class=Response,
            responses={**EMPTY_OK, **V2_ERRORS})
async def model_version_ready(request: Request, name: str, version: str) -> Response:
    """200 if this version of the model is ready for inference."""
    route_of(request, name, version)
    return Response(status_code=200)


def _predict(request: Request, route: Route,
             parsed: InferenceRequest) -> tuple[bytes, int | None, np.ndarray]:
    answered = answer(request, route, parsed.images)
    model = route.model
    values = {"probabilities": answered.proba, "digit": answered.digits, "is_digit": answered.is_digit}
    return (*encode_response(model.name, str(model.version), parsed, values), answered.digits)


async def _infer(request: Request, route: Route, body: bytes) -> Response:
    settings = request.app.state.settings
    encoding = request.headers.get("content-encoding")
    # a compressed body may inflate up to max_body_bytes, so its parse is never counted as short
    parse_seconds = offload.parse_seconds(body) if encoding is None else float("inf")
    header_length_field = request.headers.get("inference-header-content-length")
    model = route.model
    parsed, (content, header_length, digits) = await offload.parse_then_run(
        request.app.state.work_limiter,
        lambda: parse_infer_request(body, header_length_field, encoding, settings.max_batch_size,
                                    settings.max_body_bytes, model_outputs(model.has_decision)),
        parse_seconds, lambda parsed: (parsed, _predict(request, route, parsed)),
        lambda parsed: model.forward_seconds(len(parsed.images)))
    compare_later(request, route, parsed.images, digits)
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(content, media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(header_length)})


@router.post("/models/{name}/infer", response_model=InferenceResponse, responses=INFER_RESPONSES,
             openapi_extra=INFER_BODY)
async def infer(request: Request, name: str) -> Response:
    """Predict digits: input `images` (N images, raw 0-255), outputs `probabilities` and `digit`."""
    return await _infer(request, route_of(request, name), await request.body())


@router.post("/models/{name}/versions/{version}/infer", response_model=InferenceResponse,
             responses=INFER_RESPONSES, openapi_extra=INFER_BODY)
async def infer_version(request: Request, name: str, version: str) -> Response:
    """Predict digits with this version of the model (same body as /v2/models/{name}/infer)."""
    return await _infer(request, route_of(request, name, version), await request.body())
