"""The loaded model: artifact, the core's inference model and the file's hash; predicts (N, 784)
pixels and shapes the answers.

An artifact may carry a calibration (metadata `calibration`: a temperature, see
neuralnet/calibration.py) and a "not a digit" decision (metadata `ood`, written by
training/digit_decision.py):

    probabilities = softmax(calibrated_logits(z))     softmax(z) without calibration
    digit_score   = max_k z_k                         the raw logits; higher is more like a digit
    is_digit      = digit_score >= threshold
Older artifacts have neither: plain softmax, and is_digit and digit_score are None (no decision).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from neuralnet.artifact import Artifact, load_artifact
from neuralnet.calibration import calibrated_logits, calibration_of
from neuralnet.inference import InferenceModel
from neuralnet.losses import softmax


class Predictions(NamedTuple):
    digits: np.ndarray  # (N,) int
    proba: np.ndarray  # (N, 10) float32, calibrated
    scores: np.ndarray | None  # (N,) digit scores; None: the model has no decision
    is_digit: np.ndarray | None  # (N,) bool


def threshold_of(metadata: dict[str, Any]) -> float | None:
    """The "not a digit" threshold on the max logit, or None (no decision, or one this service
    does not know)."""
    ood = metadata.get("ood")
    if not isinstance(ood, dict) or ood.get("method") != "max_logit":
        return None
    value = ood.get("threshold")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


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
    calibration: tuple[str, float] | None = field(init=False)  # (method, temperature)
    threshold: float | None = field(init=False)

    def __post_init__(self) -> None:
        self.calibration = calibration_of(self.artifact.metadata)
        self.threshold = threshold_of(self.artifact.metadata)
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

    @property
    def has_decision(self) -> bool:
        return self.threshold is not None

    def predict(self, pixels: np.ndarray, threads: int | None = None) -> Predictions:
        """Digits, calibrated probabilities and the "not a digit" decision for validated (N, 784)
        0-255 pixels; a conv network's chunks of a large batch on `threads` threads."""
        logits = self.inference.logits(pixels, threads)
        digits = logits.argmax(axis=1)
        scores = logits.max(axis=1) if self.threshold is not None else None
        if self.calibration is not None:
            logits = calibrated_logits(logits, *self.calibration)
        proba = softmax(logits, overwrite=True)
        is_digit = scores >= self.threshold if scores is not None else None
        return Predictions(digits, proba, scores, is_digit)

    def describe(self) -> dict[str, Any]:
        meta = self.artifact.metadata
        # what a person looks for first comes first; the long layer list last
        return {
            "name": self.name,
            "version": self.version,
            "architecture_summary": " -> ".join(layer["type"] for layer in meta["architecture"]),
            "parameter_count": int(sum(a.size for a in self.artifact.arrays.values())),
            "metrics": meta.get("metrics", {}),
            "ood": meta.get("ood") if self.has_decision else None,
            "calibration": meta.get("calibration") if self.calibration is not None else None,
            "created_at": meta.get("created_at"),
            "input": meta["input"],
            "labels": meta["labels"],
            "path": str(self.artifact.path),
            "sha256": self.sha256,
            "loaded_at": self.loaded_at,
            "architecture": meta["architecture"],
        }
