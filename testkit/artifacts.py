"""Small real artifacts on disk, written with the core's writer: the one factory tests use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neuralnet.artifact import save_artifact
from neuralnet.network import Sequential
from training.architectures import build_mlp

LABELS = [str(d) for d in range(10)]
MEAN, STD = 0.13, 0.31


def tiny_mlp(seed: int = 0) -> Sequential:
    """An untrained 784 -> 16 -> 10 MLP (with BatchNorm and Dropout, as training builds them)."""
    return build_mlp(np.random.default_rng(seed), hidden=(16,))


def artifact_metadata(name: str, test_accuracy: float = 0.5, **extra: Any) -> dict[str, Any]:
    """Metadata as `mnist-train` writes it, less the training history; `extra` adds or replaces fields."""
    return {"model_name": name, "labels": LABELS,
            "input": {"shape": [28, 28, 1], "layout": "NHWC", "dtype": "float32", "pixel_range": [0, 255],
                      "scale": 1 / 255, "mean": MEAN, "std": STD},
            "metrics": {"test_accuracy": test_accuracy}, "created_at": "2026-11-25T18:30:00+00:00",
            "training": {"command": "mnist-train --arch mlp --epochs 1"}, **extra}


def tiny_artifact(weights_dir: Path, name: str = "tiny-mlp", version: int | None = None,
                  network: Sequential | None = None, seed: int = 0, test_accuracy: float = 0.5,
                  **metadata: Any) -> Path:
    """Write `network` (default: `tiny_mlp(seed)`) as `<weights_dir>/<name>/<version or next>.npz`."""
    architecture, arrays = (network or tiny_mlp(seed)).export()
    meta = artifact_metadata(name, test_accuracy, architecture=architecture, **metadata)
    return save_artifact(weights_dir, meta, arrays, version=version)
