"""Pydantic models of the answers every route shares, for the OpenAPI page: the model reference,
the common error body, model info and list, health; and the error and image-upload documentation
of the /v1 routes. The protocols' own request and response models are in `service.codecs`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from service.api.openapi import BINARY
from service.codecs.v1.schemas import ModelRef


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
    architecture_summary: str = Field(description="Layer types in order.")
    parameter_count: int = Field(description="Number of weights and biases.")
    metrics: dict[str, Any] = Field(description="Training metrics recorded in the artifact.")
    ood: dict[str, Any] | None = Field(description="The \"not a digit\" decision: `method`, `threshold` "
                                       "on `digit_score`, and its figures measured at training time "
                                       "(`evaluation`: per generated non-digit set, AUROC and the share "
                                       "answered as a digit). `null`: no decision (an older version).")
    calibration: dict[str, Any] | None = Field(description="The temperature the probabilities are "
                                               "divided by, with ECE, NLL and Brier before and after. "
                                               "`null`: not calibrated.")
    created_at: str | None = Field(description="When the artifact was trained (UTC).")
    input: dict[str, Any] = Field(description="Input spec: shape, pixel range, normalisation.")
    labels: list[str] = Field(description="Class label of each output.")
    path: str = Field(description="Artifact file served.")
    sha256: str = Field(description="SHA-256 of the artifact file.")
    loaded_at: str = Field(description="When this process loaded it (UTC).")
    architecture: list[dict[str, Any]] = Field(description="Layer list from the artifact.")


class ModelVersions(BaseModel):
    name: str = Field(description="Model name.", examples=["mnist-cnn"])
    versions: list[int] = Field(description="Versions present, ascending.", examples=[[1, 2]])


class LoadedVersion(BaseModel):
    name: str = Field(description="Model name.", examples=["mnist-cnn"])
    version: int = Field(description="Version.", examples=[2])
    role: str = Field(description="`served`, or `candidate` during a rollout.", examples=["served"])
    rollout: str | None = Field(description="A candidate's rollout: `canary` or `shadow`.")
    percent: float | None = Field(description="A canary's share of the model's unpinned requests.")
    requests: int = Field(description="Requests it answered (this worker, since it loaded it).")
    mean_forward_ms: float | None = Field(description="Mean forward-pass time of those requests.")
    compared_images: int = Field(description="A candidate: images computed by both versions.")
    agreed_images: int = Field(description="A candidate: of those, images both gave the same digit.")
    agreement: float | None = Field(description="agreed_images / compared_images.")
    comparisons_skipped: int = Field(description="Comparisons not made: too many were pending.")


class UnavailableVersion(BaseModel):
    name: str = Field(description="Model name.")
    version: int = Field(description="The version that failed its checks.")
    state: str = Field(description="UNAVAILABLE.", examples=["UNAVAILABLE"])
    reason: str = Field(description="Which check it failed, and why.")


class RecordStatus(BaseModel):
    path: str = Field(description="MNIST_STATE_PATH.")
    problem: str | None = Field(description="Why the record is not followed or written (the worker "
                                "keeps what it serves then); null when all is well.")


class ModelList(BaseModel):
    models: list[ModelVersions] = Field(description="Every model and version in the weights directory.")
    loaded: ModelRef | None = Field(description="The default model's served version (what requests "
                                    "naming no model get, outside a rollout).")
    default: str | None = Field(description="The default model.")
    served: list[LoadedVersion] = Field(description="Every loaded version, with its figures.")
    unavailable: list[UnavailableVersion] = Field(description="Versions that failed their checks "
                                                  "(at start-up, on a load, in watch mode), and why.")
    record: RecordStatus | None = Field(description="The served-versions record this worker follows.")


MODEL_QUERY = ("Model to answer (a loaded one, see GET /v1/models); default: the default model, "
               "its rollout deciding the version.")
VERSION_QUERY = "Version of the model to answer (a loaded one); default: the served version."
ModelQuery = Annotated[str | None, Query(description=MODEL_QUERY)]
# No pattern: a version that is not loaded, "abc" as much as "99", is the same 404 on every route
VersionQuery = Annotated[str | None, Query(description=VERSION_QUERY)]
# The same two, for the routes that read their own query (openapi_extra)
MODEL_PARAMETERS: dict[str, Any] = {"parameters": [
    {"name": "model", "in": "query", "required": False, "description": MODEL_QUERY,
     "schema": {"type": "string"}},
    {"name": "version", "in": "query", "required": False, "description": VERSION_QUERY,
     "schema": {"type": "string"}}]}


class Health(BaseModel):
    status: str = Field(description="`ok` when healthy.", examples=["ok"])
    model: ModelRef | None = Field(None, description="The loaded model (readiness only).")


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
        (400, "Malformed JSON."), (404, "No such model or version loaded (`?model=`, `?version=`)."),
        (413, "Body larger than MNIST_MAX_BODY_BYTES."),
        (415, "Body is not application/json."), (422, "Invalid input: what is wrong and where."),
        (503, "No model loaded yet."))
}

IMAGE_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in (
        (400, "Malformed multipart body."),
        (404, "No such model or version loaded (`?model=`, `?version=`)."),
        (413, "Body over MNIST_MAX_BODY_BYTES, image file over MNIST_MAX_IMAGE_BYTES, or an image with "
              "more than MNIST_MAX_IMAGE_PIXELS pixels (checked before decoding)."),
        (415, "Content-Type is neither multipart/form-data nor image/png or image/jpeg."),
        (422, "Not a PNG or JPEG image, a truncated or corrupt one, an empty file, a blank image with no "
              "digit, a missing `file` part or an unknown form field."),
        (503, "No model loaded yet."))
}
