"""Open Inference Protocol (KServe v2) REST endpoints: health, metadata and inference, with Triton's
binary tensor data extension (service/codecs/v2/), so Triton/KServe clients such as tritonclient and
the KServe SDK work. Triton's configuration and statistics extensions are in v2_extensions.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.api.deps import plane_of
from service.api.direct_route import DirectRoute
from service.api.openapi import BINARY, example_digit, request_body
from service.api.responses import JSONResponse
from service.codecs.pixels import SIDE
from service.codecs.v2.errors import PATH_PREFIX
from service.codecs.v2.outputs import encode_response, model_outputs, outputs_metadata
from service.codecs.v2.protocol import InferenceRequest, parse_infer_request
from service.codecs.v2.schemas import (
    INPUT_NAME,
    PLATFORM,
    V2_ERRORS,
    InferenceRequestBody,
    InferenceResponse,
    LiveResponse,
    ModelMetadata,
    ModelReadyResponse,
    ReadyResponse,
    ServerMetadata,
)
from service.dataplane import offload
from service.dataplane.plane import Inference, ModelRef
from service.models.loaded_model import LoadedModel

router = APIRouter(prefix=PATH_PREFIX, tags=["open-inference-protocol"], route_class=DirectRoute)
# The infer routes apart: the app matches routes in order, so it lists them first (service/main.py)
infer_router = APIRouter(prefix=PATH_PREFIX, tags=["open-inference-protocol"], route_class=DirectRoute)
# Always served; model_repository only while MNIST_ADMIN_TOKEN turns its routes on
EXTENSIONS = ["binary_tensor_data", "model_configuration", "statistics"]
NOT_FOUND = {404: V2_ERRORS[404]}

INFER_BODY = request_body(InferenceRequestBody, {
    "id": "example-1",
    "inputs": [{"name": INPUT_NAME, "shape": [1, SIDE, SIDE], "datatype": "UINT8",
                "data": [example_digit()]}],
    "outputs": [{"name": "digit"}, {"name": "probabilities"}]})
INFER_BODY["requestBody"]["content"]["application/octet-stream"] = {"schema": BINARY, "description": (
    "Binary tensor data extension: the JSON request, then each input with parameters.binary_data_size "
    "as raw little-endian bytes; the Inference-Header-Content-Length header gives the JSON's length "
    "(0: a raw binary request, one image's bytes alone, FP32 or UINT8).")}
INFER_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/octet-stream": {}},
    "description": "JSON, or with binary outputs: JSON then raw tensor bytes (Inference-Header-Content-"
                   "Length gives the JSON's length)."}, **V2_ERRORS}


@router.get("/health/live", response_model=LiveResponse)
async def server_live() -> JSONResponse:
    """The server is live."""
    return JSONResponse({"live": True})


@router.get("/health/ready", response_model=ReadyResponse,
            responses={503: {"model": ReadyResponse, "description": "No model loaded yet."}})
async def server_ready(request: Request) -> JSONResponse:
    """`{"ready": true}` (200) once the default model is loaded, else `{"ready": false}` (503)."""
    ready = plane_of(request).ready()
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


def _server_metadata(request: Request) -> JSONResponse:
    extensions = EXTENSIONS + (["model_repository"] if request.app.state.settings.admin_token else [])
    return JSONResponse({"name": request.app.title, "version": request.app.version,
                         "extensions": extensions})


@router.get("", response_model=ServerMetadata)
async def server_metadata(request: Request) -> JSONResponse:
    """Server name, version and the protocol extensions it supports."""
    return _server_metadata(request)


@router.get("/", response_model=ServerMetadata)
async def server_metadata_slash(request: Request) -> JSONResponse:
    """The same as `/v2`: the protocol's documents give this path."""
    return _server_metadata(request)


def _metadata(request: Request, ref: ModelRef) -> dict[str, Any]:
    plane = plane_of(request)
    model = plane.model(ref)  # the outputs are those of the served version, or the one named
    assert ref.name is not None
    versions = [str(m.version) for m in plane.versions(ref.name)] if ref.version is None else [ref.version]
    return {"name": ref.name, "versions": versions, "platform": PLATFORM,
            # [-1, 784] and [-1, 1, 28, 28] are accepted as well (see the README)
            "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, SIDE, SIDE]}],
            "outputs": outputs_metadata(model.has_decision)}


@router.get("/models/{name}", response_model=ModelMetadata, responses=V2_ERRORS)
async def model_metadata(request: Request, name: str) -> JSONResponse:
    """The model's versions, platform, inputs and outputs (-1: any batch size)."""
    return JSONResponse(_metadata(request, ModelRef(name)))


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=V2_ERRORS)
async def model_version_metadata(request: Request, name: str, version: str) -> JSONResponse:
    """The metadata of one version of the model."""
    return JSONResponse(_metadata(request, ModelRef(name, version)))


def _ready(request: Request, ref: ModelRef) -> JSONResponse:
    """200 `{"name", "ready": true}` if loaded; 404 with the reason if not."""
    plane_of(request).route(ref)
    return JSONResponse({"name": ref.name, "ready": True})


@router.get("/models/{name}/ready", response_model=ModelReadyResponse, responses=V2_ERRORS)
async def model_ready(request: Request, name: str) -> JSONResponse:
    """The model is ready for inference."""
    return _ready(request, ModelRef(name))


@router.get("/models/{name}/versions/{version}/ready", response_model=ModelReadyResponse,
            responses=V2_ERRORS)
async def model_version_ready(request: Request, name: str, version: str) -> JSONResponse:
    """This version of the model is ready for inference."""
    return _ready(request, ModelRef(name, version))


def _encode(parsed: InferenceRequest, inference: Inference) -> Response:
    model, answered = inference.model, inference.predictions
    values = {"probabilities": answered.proba, "digit": answered.digits, "is_digit": answered.is_digit}
    content, header_length = encode_response(model.name, str(model.version), parsed.id, parsed.outputs,
                                             values)
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(content, media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(header_length)})


async def _infer(request: Request, ref: ModelRef) -> Response:
    settings, headers, body = request.app.state.settings, request.headers, await request.body()
    encoding = headers.get("content-encoding")
    # a compressed body may inflate up to max_body_bytes, so its parse is never counted as short
    parse_seconds = offload.parse_seconds(body) if encoding is None else offload.ALWAYS_POOLED

    def decode(model: LoadedModel) -> InferenceRequest:
        return parse_infer_request(body, headers.get("inference-header-content-length"), encoding,
                                   settings.max_batch_size, settings.max_body_bytes,
                                   model_outputs(model.has_decision), headers.get("content-type"))

    return await plane_of(request).infer(ref, decode, _encode, parse_seconds, request.is_disconnected)


@infer_router.post("/models/{name}/infer", response_model=InferenceResponse, responses=INFER_RESPONSES,
             openapi_extra=INFER_BODY)
async def infer(request: Request, name: str) -> Response:
    """Predict digits: input `images` (N images, raw 0-255), outputs `probabilities` and `digit`."""
    return await _infer(request, ModelRef(name))


@infer_router.post("/models/{name}/versions/{version}/infer", response_model=InferenceResponse,
             responses=INFER_RESPONSES, openapi_extra=INFER_BODY)
async def infer_version(request: Request, name: str, version: str) -> Response:
    """Predict digits with this version of the model (same body as /v2/models/{name}/infer)."""
    return await _infer(request, ModelRef(name, version))
