"""`inference.GRPCInferenceService`: the Open Inference Protocol over gRPC, on the same data plane
as REST (routing, canaries, shadows, the in-flight limit, metrics, the "not a digit" decision), with
Triton's model configuration, statistics and repository RPCs (repository.py)."""

from __future__ import annotations

import time
from typing import Any

from service.codecs.pixels import SIDE
from service.codecs.v2.grpc import (
    GRPCInferenceRequest,
    decode_seconds,
    encode_model_infer,
    parse_model_infer,
)
from service.codecs.v2.outputs import model_outputs, outputs_metadata
from service.codecs.v2.schemas import INPUT_NAME, PLATFORM
from service.dataplane.plane import DataPlane, Inference, ModelRef
from service.grpc.calls import CallRecorder, check_deadline, deadline_of, rpc
from service.grpc.protos import inference_pb2 as pb
from service.grpc.protos.inference_pb2_grpc import GRPCInferenceServiceServicer
from service.grpc.repository import RepositoryRPCs
from service.models.loaded_model import LoadedModel

EXTENSIONS = ["model_configuration", "statistics", "model_repository"]


def ref_of(name: str, version: str) -> ModelRef:
    """The protocol's empty strings mean "the server chooses": the default model, the served version."""
    return ModelRef(name or None, version or None)


class InferenceServicer(RepositoryRPCs, GRPCInferenceServiceServicer):
    def __init__(self, plane: DataPlane, recorder: CallRecorder, server_name: str,
                 server_version: str) -> None:
        self.plane, self.recorder = plane, recorder
        self.settings, self.metrics = plane.settings, plane.metrics
        self.server_name, self.server_version = server_name, server_version

    @rpc
    async def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    @rpc
    async def ServerReady(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self.plane.ready())

    @rpc
    async def ModelReady(self, request: Any, context: Any) -> Any:
        return pb.ModelReadyResponse(ready=self.plane.model_ready(ref_of(request.name, request.version)))

    @rpc
    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        return pb.ServerMetadataResponse(name=self.server_name, version=self.server_version,
                                         extensions=EXTENSIONS)

    @rpc
    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        ref = ref_of(request.name, request.version)
        model = self.plane.model(ref)
        versions = ([str(m.version) for m in self.plane.versions(model.name)] if ref.version is None
                    else [str(model.version)])
        response = pb.ModelMetadataResponse(name=model.name, versions=versions, platform=PLATFORM)
        # [-1, 784] and [-1, 1, 28, 28] are accepted as well (see the README)
        response.inputs.add(name=INPUT_NAME, datatype="FP32", shape=[-1, SIDE, SIDE])
        for output in outputs_metadata(model.has_decision):
            response.outputs.add(**output)
        return response

    @rpc
    async def ModelInfer(self, request: Any, context: Any) -> Any:
        plane = self.plane
        if not plane.admit():
            raise plane.overloaded()
        try:
            deadline = deadline_of(context)
            max_batch = self.settings.max_batch_size

            def decode(model: LoadedModel) -> GRPCInferenceRequest:
                parsed = parse_model_infer(request, max_batch, model_outputs(model.has_decision))
                check_deadline(deadline)  # the forward pass is the work a passed deadline saves
                return parsed

            def encode(decoded: GRPCInferenceRequest, inference: Inference) -> Any:
                answered, model = inference.predictions, inference.model
                values = {"probabilities": answered.proba, "digit": answered.digits,
                          "is_digit": answered.is_digit}
                return encode_model_infer(model.name, str(model.version), decoded, values)

            async def gone() -> bool:  # a batched call is dropped before its batch starts
                return bool(context.cancelled()) or (deadline is not None and time.monotonic() >= deadline)

            return await plane.infer(ref_of(request.model_name, request.model_version), decode, encode,
                                     decode_seconds(request), gone)
        finally:
            plane.release()
