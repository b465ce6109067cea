"""The Open Inference Protocol (v2) bodies as pydantic models: the inference request (validated with
it by `service.codecs.v2.protocol`, and documented) and the responses and errors on the OpenAPI page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

INPUT_NAME = "images"
PLATFORM = "numpy_npz"  # the protocol's <project>_<format>: NumPy networks in .npz artifacts


class RequestInput(BaseModel):
    model_config = ConfigDict(strict=True)
    name: str = Field(description=f"The input tensor's name: `{INPUT_NAME}`.")
    shape: list[int] = Field(description="[N, 28, 28], [N, 784] or [N, 1, 28, 28]; N images.")
    datatype: str = Field(description="FP32 or UINT8, or another numeric type: UINT16/32/64, "
                          "INT8/16/32/64, FP16, FP64.")
    parameters: dict[str, Any] = Field({}, description="`binary_data_size`: the tensor is sent as "
                                       "that many raw little-endian bytes after the JSON.")
    data: Any = Field(None, description="Raw 0-255 pixels, row-major, flat or nested to the shape "
                      "(absent when the tensor is binary).")


class RequestOutput(BaseModel):
    model_config = ConfigDict(strict=True)
    name: str = Field(description="`probabilities`, `digit` or `is_digit` (models with the \"not a digit\" "
                      "decision).")
    parameters: dict[str, Any] = Field({}, description="`binary_data`: true to get the tensor as raw "
                                       "bytes after the JSON.")


class InferenceRequestBody(BaseModel):
    model_config = ConfigDict(strict=True)
    id: str | None = Field(None, description="Echoed in the response.")
    parameters: dict[str, Any] = Field({}, description="Accepted; `binary_data_output`: true to get "
                                       "every output as binary unless the output says otherwise.")
    inputs: list[RequestInput] = Field(min_length=1, description=f"One tensor, `{INPUT_NAME}`.")
    outputs: list[RequestOutput] | None = Field(None, description="The outputs wanted; all if absent.")


class V2Error(BaseModel):
    error: str = Field(description="What went wrong (the request id is in X-Request-ID).",
                       examples=["unknown model 'mnist'; this server serves 'mnist-cnn' version 1"])


class LiveResponse(BaseModel):
    live: bool = Field(description="The server is live.", examples=[True])


class ReadyResponse(BaseModel):
    ready: bool = Field(description="The default model is loaded.", examples=[True])


class ModelReadyResponse(BaseModel):
    name: str = Field(description="The model.", examples=["mnist-cnn"])
    ready: bool = Field(description="It is ready for inference.", examples=[True])


class ServerMetadata(BaseModel):
    name: str = Field(description="The server.", examples=["mnist-serve"])
    version: str = Field(description="The server's version.", examples=["0.1.0"])
    extensions: list[str] = Field(description="Protocol extensions supported.",
                                  examples=[["binary_tensor_data"]])


class TensorMetadata(BaseModel):
    name: str = Field(description="Tensor name.", examples=["images"])
    datatype: str = Field(description="Element type.", examples=["FP32"])
    shape: list[int] = Field(description="-1 for the batch dimension.", examples=[[-1, 28, 28]])


class ModelMetadata(BaseModel):
    name: str = Field(description="Model name.", examples=["mnist-cnn"])
    versions: list[str] = Field(description="The version served (one).", examples=[["1"]])
    platform: str = Field(description="What runs it, as <project>_<format>.", examples=[PLATFORM])
    inputs: list[TensorMetadata] = Field(description="`images`: raw 0-255 pixels, [-1, 28, 28] (also "
                                         "accepted: [-1, 784], [-1, 1, 28, 28]), FP32, UINT8 or another "
                                         "numeric type.")
    outputs: list[TensorMetadata] = Field(description="`probabilities` [-1, 10] FP32, `digit` [-1] INT64, "
                                          "and `is_digit` [-1] BOOL for a version with the \"not a "
                                          "digit\" decision.")


class ResponseOutput(BaseModel):
    name: str = Field(description="`probabilities`, `digit` or `is_digit`.", examples=["digit"])
    shape: list[int] = Field(description="Full shape, batch first.", examples=[[2]])
    datatype: str = Field(description="FP32, INT64 or BOOL.", examples=["INT64"])
    parameters: dict[str, Any] | None = Field(None, description="`binary_data_size` when the tensor's "
                                              "bytes follow the JSON.")
    data: list[float | bool] | None = Field(None, description="Row-major, flat (absent when binary); "
                                            "true/false for BOOL.",
                                     examples=[[7, 2]])


class InferenceResponse(BaseModel):
    model_name: str = Field(description="The model that answered.", examples=["mnist-cnn"])
    model_version: str = Field(description="Its version.", examples=["1"])
    id: str | None = Field(None, description="The request's `id`, if it gave one.")
    outputs: list[ResponseOutput] = Field(description="The outputs requested, in order (all by default).")


# "4XX" also keeps FastAPI from documenting a 422 that /v2 never sends (its bad input is a 400).
V2_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": V2Error, "description": text} for code, text in (
        (400, "Bad request: malformed JSON, or a wrong shape, datatype, size or value (which, where)."),
        (404, "Unknown model or version."), (413, "Body larger than MNIST_MAX_BODY_BYTES."),
        (415, "Unsupported Content-Encoding."), ("4XX", "Any other client error, same shape."),
        (503, "No model loaded yet."))
}


class ConfigTensor(BaseModel):
    name: str = Field(description="Tensor name.", examples=["images"])
    data_type: str = Field(description="Triton's type name.", examples=["TYPE_FP32"])
    dims: list[int] = Field(description="Shape after the batch dimension.", examples=[[28, 28]])
    format: str | None = Field(None, description="Input format (FORMAT_NONE).")
    reshape: dict[str, Any] | None = Field(None, description="`{\"shape\": []}`: one value per image.")


class ModelConfig(BaseModel):
    name: str = Field(description="Model name.", examples=["mnist-cnn"])
    platform: str = Field(description="<project>_<format>.", examples=[PLATFORM])
    backend: str = Field(description="What serves it.", examples=["mnist-serve"])
    max_batch_size: int = Field(description="Most images in one request (MNIST_MAX_BATCH_SIZE).")
    input: list[ConfigTensor] = Field(description="The one input, `images`.")
    output: list[ConfigTensor] = Field(description="The outputs.")
    version_policy: dict[str, Any] = Field(description="`specific`: the loaded versions.")


class DurationStat(BaseModel):
    count: int = Field(description="How many.")
    ns: int = Field(description="Their cumulative duration in nanoseconds.")


class ModelStat(BaseModel):
    name: str = Field(description="Model name.")
    version: str = Field(description="Version.")
    last_inference: int = Field(description="Milliseconds since the epoch of the last inference (0: none).")
    inference_count: int = Field(description="Images inferred successfully.")
    execution_count: int = Field(description="Forward passes run (a batch is one).")
    inference_stats: dict[str, DurationStat] = Field(description="success, fail, queue, compute_input, "
                                                     "compute_infer, compute_output.")
    batch_stats: list[dict[str, Any]] = Field(description="Not reported (empty).")


class ModelStatistics(BaseModel):
    model_stats: list[ModelStat] = Field(description="One entry per loaded version.")
