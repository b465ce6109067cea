"""The loaded model: artifact, the core's inference model and the file's hash; predicts (N, 784)
pixels and shapes the answers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from neuralnet.artifact import Artifact, load_artifact
from neuralnet.inference import InferenceModel


@dataclass
class VersionStats:
    """What one worker saw of one loaded version: requests it answered and their forward-pass
    time; as a candidate, the images it was compared on with the served version, and agreed on."""

    requests: int = 0
    seconds: float = 0.0
    compared: int = 0
    agreed: int = 0
    skipped: int = 0  # comparisons not made: too many already pending

    def report(self) -> dict[str, Any]:
        return {"requests": self.requests,
                "mean_forward_ms": round(1000 * self.seconds / self.requests, 4) if self.requests else None,
                "compared_images": self.compared, "agreed_images": self.agreed,
                "agreement": round(self.agreed / self.compared, 6) if self.compared else None,
                "comparisons_skipped": self.skipped}


@dataclass
class LoadedModel:
    """The served model and what /v1/model reports about it."""

    artifact: Artifact
    inference: InferenceModel
    sha256: str
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    seconds_per_image: float = field(init=False)
    stats: VersionStats = field(default_factory=VersionStats)

    def __post_init__(self) -> None:
        # measured once, on this machine: routes use it to decide whether a forward pass is short
        # enough to run on the event loop (service/api/offload.py)
        blank = np.zeros((1, 784), np.float32)
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            self.inference.predict_proba(blank)
            timings.append(time.perf_counter() - start)
        self.seconds_per_image = min(timings)

    @classmethod
    def load(cls, path: Path) -> LoadedModel:
        artifact = load_artifact(path)  # reads the file once, for the arrays and the hash
        return cls(artifact=artifact, inference=InferenceModel.from_artifact(artifact),
                   sha256=artifact.sha256)

    def forward_seconds(self, images: int) -> float:
        """The expected cost of predicting `images` images (an over-estimate for large batches)."""
        return images * self.seconds_per_image

    @property
    def name(self) -> str:
        return self.inference.name

    @property
    def version(self) -> int:
        return self.inference.version

    @property
    def ident(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}

    def predict(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(digits (N,), probabilities (N, 10)) for validated (N, 784) 0-255 pixels."""
        proba = self.inference.predict_proba(pixels)
        return proba.argmax(axis=1), proba

    def postprocess(self, digits: np.ndarray, proba: np.ndarray) -> list[dict[str, Any]]:
        ident = self.ident
        best = proba[np.arange(len(digits)), digits]
        # tolist() turns the whole batch into Python numbers in C, not per value in Python
        return [{"digit": d, "probability": p, "probabilities": row, "model": ident}
                for d, p, row in zip(digits.tolist(), best.tolist(), proba.tolist(), strict=True)]

    def describe(self) -> dict[str, Any]:
        meta = self.artifact.metadata
        # what a person looks for first comes first; the long layer list last
        return {
            "name": self.name,
            "version": self.version,
            "architecture_summary": " -> ".join(layer["type"] for layer in meta["architecture"]),
            "parameter_count": int(sum(a.size for a in self.artifact.arrays.values())),
            "metrics": meta.get("metrics", {}),
            "created_at": meta.get("created_at"),
            "input": meta["input"],
            "labels": meta["labels"],
            "path": str(self.artifact.path),
            "sha256": self.sha256,
            "loaded_at": self.loaded_at,
            "architecture": meta["architecture"],
        }
