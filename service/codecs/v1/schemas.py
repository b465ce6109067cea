"""The /v1 JSON bodies as pydantic models, for the OpenAPI page: requests (one image, a batch) and
the predictions answered. The parser (`service.codecs.v1.parser`) reads requests itself, with orjson
and NumPy, equally strict and much faster; these models document them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from service.api.schemas import ModelRef

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
