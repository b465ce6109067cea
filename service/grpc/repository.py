"""Triton's extensions over gRPC, as tritonclient.grpc calls them: the model configuration, the
statistics, and the model repository (index, load, unload), which takes the admin token from the
`authorization` metadata (`Bearer <MNIST_ADMIN_TOKEN>`) with the REST routes' rules.

Load and unload take the REST routes' parameters (`version`, `rollout`, `percent`) in the request's
parameter map, or, since tritonclient's `load_model` sends only a `config` string, as a JSON object
in `config`: `client.load_model("mnist-cnn", config='{"version": 2, "rollout": "canary",
"percent": 10}')`.
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf import json_format

from service.admin import check_admin_token, load_model, repository_entries, unload_model
from service.api.routes.v2_extensions import config_of
from service.codecs.v2.grpc import parameters_dict
from service.dataplane.plane import DataPlane, ModelRef
from service.dataplane.statistics import model_statistics
from service.errors import ServiceError
from service.grpc.calls import metadata_value, rpc
from service.grpc.protos import inference_pb2 as pb


def _ref(name: str, version: str) -> ModelRef:
    return ModelRef(name or None, version or None)


def _repository_parameters(request: Any) -> dict[str, Any]:
    """The parameter map, with a `config` JSON object's keys merged in (tritonclient's way)."""
    parameters = parameters_dict(request.parameters)
    # tritonclient's unload_model always sends it; no model here has dependents to unload
    parameters.pop("unload_dependents", None)
    config = parameters.pop("config", None)
    if config is None:
        return parameters
    try:
        merged = orjson.loads(config)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, f"parameters.config is not JSON: {exc}") from None
    if not isinstance(merged, dict):
        raise ServiceError(400, "parameters.config must be a JSON object of load parameters, e.g. "
                           '{"version": 2, "rollout": "canary", "percent": 10}')
    return {**merged, **parameters}


class RepositoryRPCs:
    """Mixed into the servicer, which sets `plane` and `settings`."""

    plane: DataPlane

    def _admin(self, context: Any) -> None:
        check_admin_token(self.plane.settings.admin_token, metadata_value(context, "authorization"))

    @rpc
    async def ModelConfig(self, request: Any, context: Any) -> Any:
        config = config_of(self.plane, _ref(request.name, request.version))
        return pb.ModelConfigResponse(config=json_format.ParseDict(config, pb.ModelConfig()))

    @rpc
    async def ModelStatistics(self, request: Any, context: Any) -> Any:
        plane = self.plane
        if not request.name:
            if request.version:
                raise ServiceError(400, "a version needs a model name")
            loaded = [m for d in plane.registry.deployments.values() for m in d.versions()]
        elif not request.version:
            loaded = plane.versions(request.name)
        else:
            loaded = [plane.route(_ref(request.name, request.version)).model]
        versions = sorted((m.name, str(m.version)) for m in loaded)
        stats = {"model_stats": model_statistics(plane.metrics, versions)}
        return json_format.ParseDict(stats, pb.ModelStatisticsResponse())

    @rpc
    async def RepositoryIndex(self, request: Any, context: Any) -> Any:
        self._admin(context)
        entries = repository_entries(self.plane.settings.weights_dir, self.plane.registry)
        response = pb.RepositoryIndexResponse()
        for entry in entries:
            if entry["state"] == "READY" or not request.ready:
                response.models.add(**entry)
        return response

    @rpc
    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:
        self._admin(context)
        await load_model(self.plane, request.model_name, _repository_parameters(request))
        return pb.RepositoryModelLoadResponse()

    @rpc
    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:
        self._admin(context)
        await unload_model(self.plane, request.model_name, _repository_parameters(request))
        return pb.RepositoryModelUnloadResponse()
