"""Calibrated class probabilities: the transform an artifact's `calibration` record names.

    temperature              p = softmax(z / T)
    normalised_temperature   p = softmax(u / T),   u = (z - mean_k z_k) / ||z - mean_k z_k||

z: the logits (N, K); T > 0 is fitted on the validation split (training/calibration.py). Neither
changes the predicted class. The second divides out each answer's logit scale (LogitNorm, Wei et
al., ICML 2022, applied after training): it fits digits a little better, but the scale is what
says "no idea" on a non-digit, so `mnist-train` keeps the plain temperature. The second is read
for the one artifact that records it (`mnist-mlp` v2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

METHODS = ("temperature", "normalised_temperature")


def calibrated_logits(logits: np.ndarray, method: str, temperature: float) -> np.ndarray:
    """The logits softmax turns into calibrated probabilities (a new array of logits' dtype)."""
    z = np.asarray(logits)
    if method == "normalised_temperature":
        centred = z - z.mean(axis=1, keepdims=True)
        norm = np.sqrt((centred * centred).sum(axis=1, keepdims=True))
        return centred / (np.maximum(norm, np.finfo(z.dtype).tiny) * z.dtype.type(temperature))
    if method == "temperature":
        return z / z.dtype.type(temperature)
    raise ValueError(f"unknown calibration method {method!r} (one of {', '.join(METHODS)})")


def calibration_of(metadata: dict[str, Any]) -> tuple[str, float] | None:
    """(method, T) from an artifact's metadata; None when it records none this code knows."""
    record = metadata.get("calibration")
    if not isinstance(record, dict) or record.get("method") not in METHODS:
        return None
    value = record.get("temperature")
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        return None
    return str(record["method"]), float(value)
