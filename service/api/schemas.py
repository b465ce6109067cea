"""Pydantic models for the OpenAPI page. Request bodies are parsed by `service.codecs.v1.parser` (orjson and
NumPy, equally strict and much faster); these schemas document them, with working examples."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_FILE = Path(__file__).resolve().parent.parent / "static" / "example_digit.json"


@lru_cache
def example_digit() -> list[list[int]]:
    """A real MNIST test digit (a 7), 28 rows of 28 raw 0-255 values."""
    pixels: list[list[int]] = json.loads(EXAMPLE_FILE.read_text())["pixels"]
    return pixels


Image = list[list[float]] | list[float]
IMAGE_DESCRIPTION = ("One 28x28 grayscale image, raw 0-255 values, white digit on black (as MNIST): "
                     "28 rows of 28 numbers, or a flat list of 784 numbers in row order.")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pixels: Image = Field(description=IMAGE_DESCRIPTION)


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    images: list[Image] = Field(description="1 to MNIST_MAX_BATCH_SIZE (default 1024) images, each "
                                "28 rows of 28 numbers or 784 numbers, raw 0-255.")


class ModelRef(BaseModel):
    name: str = Field(description="Model name, e.g. mnist-cnn.", examples=["mnist-cnn"])
    version: int = Field(description="Artifact version that answered.", examples=[1])


class Prediction(BaseModel):
    digit: int = Field(ge=0, le=9, description="The most probable digit.", examples=[7])
    probability: float = Field(description="Probability of `digit`.", examples=[0.9998])
    probabilities: list[float] = Field(min_length=10, max_length=10,
                                       description="Probability of each digit 0-9 (sums to 1).")
    model: ModelRef = Field(description="The model that answered.")


class ImagePrediction(Prediction):
    input: list[list[int]] | None = Field(
        None, description="Only with `?return_input=true`: the 28x28 image the model saw, 28 rows of 28 "
        "ints 0-255, white digit on black, after the MNIST-style preprocessing.")


class BatchPredictionResponse(BaseModel):
    predictions: list[Prediction] = Field(description="One prediction per image, in request order.")
    model: ModelRef = Field(description="The model that answered.")


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="Where: body field, image index, row, column.",
                                 examples=[["body", "images", 3, 27]])
    msg: str = Field(description="What is wrong there.", examples=["row 27 has 27 values, expected 28"])
    type: str = Field(description="Machine-readable kind of problem.", examples=["row_length"])


class ErrorInfo(BaseModel):
    code: str = Field(description="Short error code.", examples=["invalid_input"])
    message: str = Field(description="Human-readable summary.",
                         examples=["images[3]: row 27 has 27 values, expected 28"])
    details: list[ErrorDetail] = Field(description="Each problem found (at most 20).")
    request_id: str | None = Field(description="Also in the X-Request-ID header; quote it in reports.")


class ErrorResponse(BaseModel):
    error: ErrorInfo = Field(description="What went wrong.")


class ModelInfo(BaseModel):
    name: str = Field(description="Model name.")
    version: int = Field(description="Artifact version.")
    architecture: list[dict[str, Any]] = Field(description="Layer list from the artifact.")
    architecture_summary: str = Field(description="Layer types in order.")
    parameter_count: int = Field(description="Number of weights and biases.")
    input: dict[str, Any] = Field(description="Input spec: shape, pixel range, normalisation.")
    labels: list[str] = Field(description="Class label of each output.")
    metrics: dict[str, Any] = Field(description="Training metrics recorded in the artifact.")
    created_at: str | None = Field(description="When the artifact was trained (UTC).")
    path: str = Field(description="Artifact file served.")
    sha256: str = Field(description="SHA-256 of the artifact file.")
    loaded_at: str = Field(description="When this process loaded it (UTC).")


class ModelVersions(BaseModel):
    name: str = Field(description="Model name.", examples=["mnist-cnn"])
    versions: list[int] = Field(description="Versions present, ascending.", examples=[[1, 2]])


class ModelList(BaseModel):
    models: list[ModelVersions] = Field(description="Every model and version in the weights directory.")
    loaded: ModelRef | None = Field(description="The one this process serves.")


class Health(BaseModel):
    status: str = Field(description="`ok` when healthy.", examples=["ok"])
    model: ModelRef | None = Field(None, description="The loaded model (readiness only).")


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its `$defs` substituted: its `#/$defs/...` references would not
    resolve once embedded in the OpenAPI document."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        return [resolve(v) for v in node] if isinstance(node, list) else node

    result: dict[str, Any] = resolve(schema)
    return result


def request_body(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON body that the route reads itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": inline_refs(model.model_json_schema()), "example": example}}}}


BINARY = {"type": "string", "format": "binary"}
IMAGE_REQUEST_BODY: dict[str, Any] = {"requestBody": {
    "required": True, "description": "A PNG or JPEG image of one digit, any size, dark on light or light "
    "on dark: either a multipart/form-data upload with the file in the part named `file`, or the raw "
    "file as the body with Content-Type image/png or image/jpeg.",
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {**BINARY, "description": "The image file (PNG or JPEG)."}}}},
        "image/png": {"schema": BINARY},
        "image/jpeg": {"schema": BINARY},
    }}}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in (
        (400, "Malformed JSON."), (413, "Body larger than MNIST_MAX_BODY_BYTES."),
        (415, "Body is not application/json."), (422, "Invalid input: what is wrong and where."),
        (503, "No model loaded yet."))
}

IMAGE_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in (
        (400, "Malformed multipart body."),
        (413, "Body over MNIST_MAX_BODY_BYTES, image file over MNIST_MAX_IMAGE_BYTES, or an image with "
              "more than MNIST_MAX_IMAGE_PIXELS pixels (checked before decoding)."),
        (415, "Content-Type is neither multipart/form-data nor image/png or image/jpeg."),
        (422, "Not a PNG or JPEG image, a truncated or corrupt one, an empty file, a blank image with no "
              "digit, a missing `file` part or an unknown form field."),
        (503, "No model loaded yet."))
}
