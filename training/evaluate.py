"""Scoring an artifact on the MNIST test set, and the `mnist-evaluate` command.

The metric maths (confusion matrix, per-class precision/recall) lives here only; the training
report (training/report.py) imports it. The confusion matrix is indexed [true, predicted].
Precision of a class that is never predicted, or recall of a class with no examples, is 0/0:
it is NaN here, `null` in JSON and `-` in the text table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from neuralnet.artifact import Artifact, ArtifactError, load_artifact
from neuralnet.inference import InferenceModel
from neuralnet.losses import log_softmax
from training.data import IdxError, Mnist, default_data_dir, load_mnist

MATCH_TOLERANCE_IMAGES = 1


def confusion_matrix(true: np.ndarray, pred: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Counts (num_classes, num_classes) int64: entry [t, p] = examples of class t predicted p."""
    true = np.asarray(true).ravel()
    pred = np.asarray(pred).ravel()
    if true.shape != pred.shape:
        raise ValueError(f"true has {true.size} labels, pred has {pred.size}")
    for name, a in (("true", true), ("pred", pred)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} labels must be in 0..{num_classes - 1}")
    flat = true.astype(np.int64) * num_classes + pred.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) per class from a [true, predicted] confusion matrix; NaN where 0/0."""
    cm = np.asarray(cm, dtype=np.float64)
    diag = np.diag(cm)
    predicted = cm.sum(axis=0)  # column sums: how often each class was predicted
    actual = cm.sum(axis=1)  # row sums: how many examples each class has
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, diag / predicted, np.nan)
        recall = np.where(actual > 0, diag / actual, np.nan)
    return precision, recall


def nan_to_none(values: np.ndarray) -> list[float | None]:
    """A float array as a JSON-safe list (NaN -> None)."""
    return [None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def predict_logits(artifact: Artifact, images: np.ndarray) -> np.ndarray:
    """Logits (N, 10) of an artifact's network for uint8 images (N, 28, 28), normalised as recorded
    (the same inference model the service runs)."""
    return InferenceModel.from_artifact(artifact).logits(images)


def score(labels: np.ndarray, logits: np.ndarray, num_classes: int = 10) -> dict[str, Any]:
    """Accuracy, mean cross-entropy, confusion matrix and per-class precision/recall (JSON-safe)."""
    labels = np.asarray(labels).astype(np.int64)
    if len(labels) == 0:
        raise ValueError("no images to score")
    pred = logits.argmax(axis=1)
    log_p = log_softmax(logits.astype(np.float64))
    cm = confusion_matrix(labels, pred, num_classes)
    precision, recall = per_class_precision_recall(cm)
    n = len(labels)
    return {
        "images": n,
        "correct": int((pred == labels).sum()),
        "accuracy": float((pred == labels).mean()),
        "loss": float(-log_p[np.arange(n), labels].mean()),
        "precision": nan_to_none(precision),
        "recall": nan_to_none(recall),
        "support": cm.sum(axis=1).tolist(),
        "confusion_matrix": cm.tolist(),
    }


def recorded_difference(correct: int, images: int, recorded: Any) -> int | None:
    """Images correct now minus images correct by the recorded accuracy (None if none recorded)."""
    if not isinstance(recorded, int | float) or isinstance(recorded, bool):
        return None
    return correct - round(float(recorded) * images)


def recorded_match(difference: int | None) -> bool | None:
    """Re-scoring reproduces the recorded accuracy to within one image (float noise: BatchNorm is
    folded into the weights at export, so the saved network is not bit-identical to the trained one)."""
    return None if difference is None else abs(difference) <= MATCH_TOLERANCE_IMAGES


def evaluate_artifact(artifact_path: str | os.PathLike[str] | Artifact, data: Mnist) -> dict[str, Any]:
    """Score an artifact (a path, or one already loaded) on `data`'s test set.

    Returns model_name, version, artifact, images, correct, accuracy, loss, precision, recall,
    support, confusion_matrix (lists), recorded_test_accuracy (None if the metadata has none),
    recorded_difference_images (images correct now minus recorded) and matches_recorded.
    """
    artifact = artifact_path if isinstance(artifact_path, Artifact) else load_artifact(artifact_path)
    labels = artifact.metadata["labels"]
    logits = predict_logits(artifact, data.test_images)
    result = score(data.test_labels, logits, num_classes=len(labels))
    recorded = artifact.metadata.get("metrics", {}).get("test_accuracy")
    difference = recorded_difference(result["correct"], result["images"], recorded)
    return {
        "model_name": artifact.name,
        "version": artifact.version,
        "artifact": str(artifact.path),
        "labels": labels,
        **result,
        "recorded_test_accuracy": recorded,
        "recorded_difference_images": difference,
        "matches_recorded": recorded_match(difference),
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_text(result: dict[str, Any]) -> str:
    labels = [str(label) for label in result["labels"]]
    lines = [
        f"model {result['model_name']} v{result['version']}  ({result['artifact']})",
        f"test accuracy {result['accuracy']:.4f}  ({result['correct']}/{result['images']})"
        f"  loss {result['loss']:.4f}",
    ]
    recorded, diff = result["recorded_test_accuracy"], result["recorded_difference_images"]
    if diff is None:
        lines.append("recorded test accuracy: none in the metadata")
    elif diff == 0:
        lines.append(f"recorded test accuracy {recorded:.4f}: matches")
    elif result["matches_recorded"]:
        lines.append(f"recorded test accuracy {recorded:.4f}: matches ({diff:+d} image, float noise)")
    else:
        lines.append(f"recorded test accuracy {recorded:.4f}: DOES NOT MATCH ({diff:+d} images correct)")
    lines += ["", "class  precision  recall  support"]
    for label, p, r, s in zip(labels, result["precision"], result["recall"], result["support"], strict=True):
        lines.append(f"{label:>5}  {_fmt(p):>9}  {_fmt(r):>6}  {s:>7}")
    width = max(5, *(len(str(v)) for row in result["confusion_matrix"] for v in row))
    lines += ["", "confusion matrix (rows = true, columns = predicted):",
              " " * 5 + "".join(f"{label:>{width + 1}}" for label in labels)]
    for label, row in zip(labels, result["confusion_matrix"], strict=True):
        lines.append(f"{label:>5}" + "".join(f"{v:>{width + 1}}" for v in row))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mnist-evaluate", description="Re-score an artifact on the MNIST "
                                "test set and compare with the accuracy recorded in it.")
    p.add_argument("artifact", type=Path, help="path to <model>/<version>.npz")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="MNIST folder (default $MNIST_DATA_DIR or data/mnist)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        artifact = load_artifact(args.artifact)  # before the data: a bad path fails fast
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        data = load_mnist(args.data_dir or default_data_dir())
    except (FileNotFoundError, IdxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = evaluate_artifact(artifact, data)
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        print(format_text(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
