"""What the peers benchmark sends and measures against: real digits, and the bare forward pass's
images per second in process."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from neuralnet.inference import InferenceModel

EXAMPLE = Path(__file__).resolve().parents[2] / "service" / "static" / "example_digit.json"


def forward_img_s(model: InferenceModel, pixels: np.ndarray, seconds: float = 1.5) -> float:
    """Images/s of `predict_proba` on `pixels` in this process, 1 BLAS thread (median call time)."""
    with threadpool_limits(limits=1):
        for _ in range(3):
            model.predict_proba(pixels)
        times: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(times) < 5:
            t0 = time.perf_counter()
            model.predict_proba(pixels)
            times.append(time.perf_counter() - t0)
    return len(pixels) / float(np.median(times))


def digits(n: int) -> tuple[np.ndarray, str]:
    """`n` real uint8 digits (n, 28, 28) and where they came from."""
    data_dir = os.environ.get("MNIST_DATA_DIR")
    if data_dir:
        from training.data import load_mnist

        return load_mnist(data_dir).test_images[:n].astype(np.uint8), f"MNIST test set ({data_dir})"
    image = np.array(json.loads(EXAMPLE.read_text())["pixels"], dtype=np.uint8)
    return np.repeat(image[None], n, axis=0), f"{EXAMPLE.name}, repeated"
