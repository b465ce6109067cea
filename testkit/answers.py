"""What /v1 answers for a batch of images: the reference other protocols' answers are held to."""

from __future__ import annotations

import httpx
import numpy as np

Answer = tuple[np.ndarray, np.ndarray, np.ndarray]  # digits, probabilities (float32), is_digit


def v1_batch_answer(base_url: str, images: np.ndarray) -> Answer:
    """(digits, probabilities, is_digit) from /v1/predict/batch for uint8 `images` (N, 28, 28)."""
    response = httpx.post(f"{base_url}/v1/predict/batch", json={"images": images.tolist()}, timeout=60,
                          trust_env=False)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    return (np.array([p["digit"] for p in predictions]),
            np.array([p["probabilities"] for p in predictions], np.float32),
            np.array([p["is_digit"] for p in predictions]))
