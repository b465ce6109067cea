"""Pydantic models documenting the Open Inference Protocol (v2) responses on the OpenAPI page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class V2Error(BaseModel):
    error: str = Field(description="What went wrong (the request id is in X-Request-ID).",
                       examples=["unknown model 'mnist'; this server serves 'mnist-cnn' version 1"])


class ServerMetadata(BaseModel):
    name: str = Field(examples=["mnist-serve"])
    version: str = Field(examples=["0.1.0"])
    extensions: list[str] = Field(description="Protocol extensions supported.",
                                  examples=[["binary_tensor_data"]])


class TensorMetadata(BaseModel):
    name: str = Field(examples=["images"])
    datatype: str = Field(examples=["FP32"])
    shape: list[int] = Field(description="-1 for the batch dimension.", examples=[[-1, 28, 28]])


class ModelMetadata(BaseModel):
    name: str = Field(examples=["mnist-cnn"])
    versions: list[str] = Field(description="The version served (one).", examples=[["1"]])
    platform: str = Field(examples=["numpy"])
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ResponseOutput(BaseModel):
    name: str = Field(examples=["digit"])
    shape: list[int] = Field(examples=[[2]])
    datatype: str = Field(examples=["INT64"])
    parameters: dict[str, Any] | None = Field(None, description="`binary_data_size` when the tensor's "
                                              "bytes follow the JSON.")
    data: list[float] | None = Field(None, description="Row-major, flat (absent when binary).",
                                     examples=[[7, 2]])


class InferenceResponse(BaseModel):
    model_name: str = Field(examples=["mnist-cnn"])
    model_version: str = Field(examples=["1"])
    id: str | None = Field(None, description="The request's `id`, if it gave one.")
    outputs: list[ResponseOutput]


V2_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": V2Error, "description": text} for code, text in (
        (400, "Bad request: malformed JSON, or a wrong shape, datatype, size or value (which, where)."),
        (404, "Unknown model or version."), (413, "Body larger than MNIST_MAX_BODY_BYTES."),
        (415, "Unsupported Content-Encoding."), (503, "No model loaded yet."))
}
