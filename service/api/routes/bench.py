"""Naive no-op endpoints for `benchmarks/bench_service.py` (only with MNIST_BENCHMARK_ROUTES=1).

They take FastAPI's default path for a JSON body, a pydantic model validated field by field, and
then do nothing: the ceiling an ordinary FastAPI endpoint with the same body could reach. The real
/v1 routes parse with orjson and NumPy and run the model; the benchmark compares the two.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(prefix="/bench", tags=["benchmark"], include_in_schema=False)


class NoopPredictBody(BaseModel):
    pixels: list[list[float]] | list[float]


class NoopBatchBody(BaseModel):
    images: list[list[list[float]] | list[float]]


@router.post("/noop/predict")
def noop_predict(body: NoopPredictBody) -> dict[str, Any]:
    """Validate one image with pydantic and answer a constant."""
    return {"digit": 0, "probability": 1.0}


@router.post("/noop/batch")
def noop_batch(body: NoopBatchBody) -> dict[str, Any]:
    """Validate a batch of images with pydantic and answer a constant."""
    return {"predictions": [], "count": 0}
