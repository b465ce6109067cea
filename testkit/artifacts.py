"""Small real artifacts on disk, written with the core's writer: the one factory tests use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neuralnet.artifact import load_artifact, save_artifact
from neuralnet.network import Sequential
from training.architectures import build_mlp

LABELS = [str(d) for d in range(10)]
MEAN, STD = 0.13, 0.31
REPO_ROOT = Path(__file__).resolve().parent.parent


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


def shipped_copy(weights_dir: Path, version: int, model: str = "mnist-mlp", noise: float = 0.0,
                 seed: int = 0, swap: tuple[int, int] | None = None, name: str | None = None,
                 **metrics: Any) -> Path:
    """The shipped `<model>/1.npz` saved as another version of it under `weights_dir`: a real,
    accurate version to roll out. `noise` (relative) perturbs every array, so that the copy
    disagrees with the original on some inputs; `swap` exchanges two classes' outputs (a label
    mix-up: it answers one where the original answers the other); `metrics` replaces recorded
    figures."""
    shipped = load_artifact(REPO_ROOT / "weights" / model / "1.npz")
    rng = np.random.default_rng(seed)
    arrays = {key: (a + noise * np.abs(a).mean() * rng.standard_normal(a.shape)).astype(a.dtype)
              if noise else a.copy() for key, a in shipped.arrays.items()}
    if swap is not None:  # the output layer is the last one with parameters
        last = max({key.rsplit(".", 1)[0] for key in arrays}, key=lambda layer: int(layer.split(".")[1]))
        for key in (f"{last}.W", f"{last}.b"):
            arrays[key][..., list(swap)] = arrays[key][..., list(swap[::-1])]
    meta = {k: v for k, v in shipped.metadata.items() if k not in ("version", "format_version")}
    meta["metrics"] = {**meta.get("metrics", {}), **metrics}
    meta["model_name"] = name or model
    return save_artifact(weights_dir, meta, arrays, version=version)
