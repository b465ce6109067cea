"""The /v1 JSON bodies as pydantic models, for the OpenAPI page: requests (one image, a batch) and
the predictions answered. The parser (`service.codecs.v1.parser`) reads requests itself, with orjson
and NumPy, equally strict and much faster; these models document them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Image = list[list[float]] | list[float]


class ModelRef(BaseModel):
    name: str = Field(description="Model name, e.g. mnist-cnn.", examples=["mnist-cnn"])
    version: int = Field(description="Artifact version that answered.", examples=[1])
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
                                       description="Probability of each digit 0-9 (sums to 1), "
                                       "calibrated when the model records a temperature.")
    is_digit: bool | None = Field(description="Whether the image looks like a digit at all (`false`: "
                                  "blank, noise, a scribble, a letter...: `digit` is then only the "
                                  "least unlikely guess). `null`: this model version has no such "
                                  "decision (trained before it).", examples=[True])
    digit_score: float | None = Field(description="The score that decision uses (the largest logit; "
                                      "higher is more like a digit): `is_digit` is `digit_score >= "
                                      "threshold`, the threshold in GET /v1/model `ood`.",
                                      examples=[12.7])
    model: ModelRef = Field(description="The model that answered.")


class ImagePrediction(Prediction):
    input: list[list[int]] | None = Field(
        None, description="Only with `?return_input=true`: the 28x28 image the model saw, 28 rows of 28 "
        "ints 0-255, white digit on black, after the MNIST-style preprocessing.")


class BatchPredictionResponse(BaseModel):
    predictions: list[Prediction] = Field(description="One prediction per image, in request order.")
    model: ModelRef = Field(description="The model that answered.")


class Explanation(Prediction):
    saliency: list[list[float]] = Field(
        description="28 rows of 28 numbers: each pixel's share of the predicted digit's logit, by "
        "integrated gradients against a black image (positive: for this digit, negative: against "
        "it). They add up to `logit - baseline_logit`, up to `completeness_error`.")
    method: str = Field(description="`integrated_gradients`.", examples=["integrated_gradients"])
    baseline: str = Field(description="`black`: the all-zero image the path starts from.", examples=["black"])
    logit: float = Field(description="The predicted digit's logit for the image.")
    baseline_logit: float = Field(description="The predicted digit's logit for the black image.")
    completeness_error: float = Field(description="|sum(saliency) - (logit - baseline_logit)| / "
                                      "|logit - baseline_logit|: how far the numeric integral is from "
                                      "exact (0.01 = 1 %).", examples=[0.004])
    steps: int = Field(description="Integration steps used.", examples=[32])


class ImageExplanation(Explanation):
    input: list[list[int]] = Field(description="The 28x28 image the model saw (0-255, white digit on "
                                   "black): the saliency is over it.")
