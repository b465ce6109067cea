"""Triton's extensions of the Open Inference Protocol that its clients call first: the model
configuration (`get_model_config`) and the statistics (`get_inference_statistics`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service.api.deps import plane_of
from service.api.direct_route import DirectRoute
from service.api.responses import JSONResponse
from service.codecs.pixels import SIDE
from service.codecs.v2.errors import PATH_PREFIX
from service.codecs.v2.outputs import OUTPUTS, model_outputs
from service.codecs.v2.schemas import INPUT_NAME, PLATFORM, V2_ERRORS, ModelConfig, ModelStatistics
from service.dataplane.plane import DataPlane, ModelRef
from service.dataplane.statistics import model_statistics

router = APIRouter(prefix=PATH_PREFIX, tags=["open-inference-protocol"], route_class=DirectRoute)
# Per-image dims after the batch dimension; a per-image scalar is [1] reshaped to [] (Triton's way)
OUTPUT_DIMS = {"probabilities": [10], "digit": [1], "is_digit": [1]}


def config_of(plane: DataPlane, ref: ModelRef) -> dict[str, Any]:
    """The model's configuration as Triton gives it (the gRPC ModelConfig answers the same)."""
    model = plane.model(ref)
    assert ref.name is not None
    versions = [m.version for m in plane.versions(ref.name)] if ref.version is None else [model.version]
    outputs = []
    for name in model_outputs(model.has_decision):
        output: dict[str, Any] = {"name": name, "data_type": f"TYPE_{OUTPUTS[name][0]}",
                                  "dims": OUTPUT_DIMS[name]}
        if OUTPUT_DIMS[name] == [1]:
            output["reshape"] = {"shape": []}
        outputs.append(output)
    return {"name": ref.name, "platform": PLATFORM, "backend": "mnist-serve",
            "max_batch_size": plane.settings.max_batch_size,
            # also accepted: [784] and [1, 28, 28], and any numeric datatype (see the README)
            "input": [{"name": INPUT_NAME, "data_type": "TYPE_FP32", "format": "FORMAT_NONE",
                       "dims": [SIDE, SIDE]}],
            "output": outputs,
            "version_policy": {"specific": {"versions": versions}}}


@router.get("/models/{name}/config", response_model=ModelConfig, responses=V2_ERRORS)
async def model_config(request: Request, name: str) -> JSONResponse:
    """The model's configuration, as Triton's model configuration extension gives it."""
    return JSONResponse(config_of(plane_of(request), ModelRef(name)))


@router.get("/models/{name}/versions/{version}/config", response_model=ModelConfig, responses=V2_ERRORS)
async def model_version_config(request: Request, name: str, version: str) -> JSONResponse:
    """The configuration of one loaded version of the model."""
    return JSONResponse(config_of(plane_of(request), ModelRef(name, version)))


def _statistics(request: Request, ref: ModelRef | None) -> JSONResponse:
    plane = plane_of(request)
    if ref is None:
        loaded = [m for d in plane.registry.deployments.values() for m in d.versions()]
    elif ref.version is None:
        loaded = plane.versions(ref.name or "")
    else:
        loaded = [plane.route(ref).model]
    versions = sorted((m.name, str(m.version)) for m in loaded)
    return JSONResponse({"model_stats": model_statistics(request.app.state.metrics, versions)})


@router.get("/models/stats", response_model=ModelStatistics, responses=V2_ERRORS)
async def statistics(request: Request) -> JSONResponse:
    """Inference statistics of every loaded version, summed over the server's workers."""
    return _statistics(request, None)


@router.get("/models/{name}/stats", response_model=ModelStatistics, responses=V2_ERRORS)
async def model_statistics_route(request: Request, name: str) -> JSONResponse:
    """Inference statistics of the model's loaded versions."""
    return _statistics(request, ModelRef(name))


@router.get("/models/{name}/versions/{version}/stats", response_model=ModelStatistics, responses=V2_ERRORS)
async def model_version_statistics(request: Request, name: str, version: str) -> JSONResponse:
    """Inference statistics of one loaded version."""
    return _statistics(request, ModelRef(name, version))
