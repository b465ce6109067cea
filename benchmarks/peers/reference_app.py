"""The least a FastAPI app needs to serve the model: the yardstick for mnist-serve's own overhead.

orjson in and out, one `np.asarray`, the same NumPy forward pass (`InferenceModel` on the same
artifact), `async def` endpoints, no middleware, no logging, no metrics. Run by `run.py` in the
service's environment with the repo root on PYTHONPATH:

    PEERS_ARTIFACT=weights/mnist-mlp/1.npz uvicorn --app-dir benchmarks/peers reference_app:app

POST /v1/predict        {"pixels": 28x28 or 784 numbers 0-255} -> {"digit", "probability", "probabilities"}
POST /v1/predict/batch  {"images": [...]}                      -> {"predictions": [<the same per image>]}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response

from neuralnet.artifact import load_artifact
from neuralnet.inference import InferenceModel

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = Path(os.environ.get("PEERS_ARTIFACT", REPO_ROOT / "weights" / "mnist-mlp" / "1.npz"))
PIXELS = 784

model = InferenceModel.from_artifact(load_artifact(ARTIFACT))
app = FastAPI(title="peers reference app", openapi_url=None, docs_url=None, redoc_url=None)


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def _predict(images: Any) -> list[dict[str, Any]]:
    pixels = np.asarray(images, dtype=np.float32)
    pixels = pixels.reshape(len(pixels), PIXELS)
    proba = model.predict_proba(pixels)
    digits = proba.argmax(axis=1)
    best = proba[np.arange(len(digits)), digits]
    return [{"digit": d, "probability": p, "probabilities": row}
            for d, p, row in zip(digits.tolist(), best.tolist(), proba.tolist(), strict=True)]


async def _body(request: Request, key: str) -> Any:
    obj = orjson.loads(await request.body())
    return obj[key]


@app.get("/health/ready")
async def ready() -> Response:
    return Response(status_code=200)


@app.post("/v1/predict")
async def predict(request: Request) -> Response:
    try:
        return _json(_predict([await _body(request, "pixels")])[0])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        return _json({"detail": str(exc)}, 400)


@app.post("/v1/predict/batch")
async def predict_batch(request: Request) -> Response:
    try:
        return _json({"predictions": _predict(await _body(request, "images"))})
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        return _json({"detail": str(exc)}, 400)
