"""A tiny real artifact (784 -> 16 -> 10 MLP, untrained) for tests that need one on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from service.artifact import save_artifact
from training.model import Sequential, build_mlp
from training.train import LABELS

MEAN, STD = 0.13, 0.31


def tiny_artifact(weights_dir: Path, seed: int = 0, **metadata: Any) -> tuple[Path, Sequential]:
    """Save a tiny MLP as `tiny-mlp/<next>.npz`; `metadata` adds or replaces metadata fields."""
    model = build_mlp(np.random.default_rng(seed), hidden=(16,))
    architecture, arrays = model.export()
    meta: dict[str, Any] = {
        "model_name": "tiny-mlp",
        "architecture": architecture,
        "input": {"shape": [28, 28, 1], "layout": "NHWC", "dtype": "float32", "scale": 1 / 255,
                  "mean": MEAN, "std": STD},
        "labels": LABELS,
        "metrics": {"test_accuracy": 0.5},
        "training": {"command": "mnist-train --arch mlp --epochs 1"},
        **metadata,
    }
    return save_artifact(weights_dir, meta, arrays), model
