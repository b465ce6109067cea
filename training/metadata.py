"""The metadata a training run writes into its artifact (neuralnet/artifact.py, described in
docs/artifact-format.md): what the network expects as input, how it was trained, and what it scored."""

from __future__ import annotations

import platform
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

from neuralnet.network import Sequential
from neuralnet.preprocess import INPUT_SHAPE
from training.augment import AffineConfig
from training.data import Mnist
from training.train import LABELS, History, TrainConfig


def make_metadata(config: TrainConfig, model: Sequential, metrics: dict[str, Any], history: History,
                  data: Mnist, command: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    architecture, arrays = model.export()
    norm = metrics["normalisation"]
    metadata = {
        "model_name": config.name,
        "architecture": architecture,
        "input": {
            "shape": list(INPUT_SHAPE), "layout": "NHWC", "dtype": "float32",
            "pixel_range": [0, 255], "polarity": "white digit on black (MNIST)",
            "scale": 1 / 255, "mean": norm["mean"], "std": norm["std"],
            "formula": "x = (pixels * scale - mean) / std",
        },
        "labels": LABELS,
        "parameter_count": int(sum(a.size for a in arrays.values())),
        "training": {
            **{k: v for k, v in asdict(config).items()
               if k not in ("model_name", "init_from", "checkpoint_dir", "resume", "distill_from")},
            "init_from": metrics["init_from"],
            "distilled_from": metrics["distilled_from"],
            "augmentation": AffineConfig().as_dict() if config.augment else None,
            "batchnorm_folded": any(layer.kind == "batchnorm" for layer in model.layers),
            "command": command,
        },
        "metrics": {k: v for k, v in metrics.items()
                    if k not in ("normalisation", "calibration", "ood", "init_from", "distilled_from")},
        "calibration": metrics["calibration"],
        "ood": metrics["ood"],
        "history": history.epochs,
        "data_sha256": data.sha256,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "training_wall_time_seconds": metrics["wall_time_seconds"],
    }
    return metadata, arrays
