"""The training report written next to an artifact: `<weights_dir>/<model>/<version>-report/`.

Contents: learning_curves.png, confusion_matrix.png, test_samples.png, summary.json, summary.md.
Test-set predictions come from the saved artifact itself (not the in-memory model), so the report
describes exactly what the service will load. The folder is built under a temporary name in the
same directory and renamed into place; an existing report is never overwritten.

matplotlib (the `train` extra) is imported inside `write_report`, so `training` imports without it.
Figures are drawn on the Agg canvas directly (`Figure` + `FigureCanvasAgg`, never pyplot), so no
global backend is switched and no figure is left registered anywhere. The figure builders
(`learning_curves_figure`, `confusion_matrix_figure`, `samples_figure`) return the Figure, so
notebooks/walkthrough.ipynb shows the same pictures inline.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuralnet.artifact import load_artifact
from training.data import Mnist
from training.evaluate import predict_logits, recorded_difference, recorded_match, score
from training.summary_markdown import summary_markdown

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_FILES = ("learning_curves.png", "confusion_matrix.png", "test_samples.png",
                "summary.json", "summary.md")
FIRST_SAMPLES = 24  # the first test images, whatever the outcome
MISTAKE_SAMPLES = 24  # then up to this many misclassified ones from the rest
MISTAKE_COLOR = "#d62728"


def report_dir_for(artifact_path: str | os.PathLike[str], version: int) -> Path:
    return Path(artifact_path).parent / f"{version}-report"


def choose_samples(labels: np.ndarray, pred: np.ndarray, first: int = FIRST_SAMPLES,
                   mistakes: int = MISTAKE_SAMPLES) -> np.ndarray:
    """Indices to show: the first `first` images, then up to `mistakes` misclassified ones after
    them; topped up with the next images in order when there are fewer mistakes."""
    n = len(labels)
    head = np.arange(min(first, n))
    wrong = np.flatnonzero(pred != labels)
    chosen = np.concatenate([head, wrong[wrong >= first][:mistakes]])
    short = min(first + mistakes, n) - len(chosen)
    if short > 0:
        rest = np.setdiff1d(np.arange(n), chosen)[:short]
        chosen = np.concatenate([chosen, rest])
    return chosen.astype(np.int64)


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def learning_curves_figure(epochs: list[dict[str, float]]) -> Figure:
    """Train and validation loss and accuracy per epoch, side by side."""
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure(11, 4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    if epochs:
        x = [row["epoch"] for row in epochs]
        for ax, key, title in ((ax_loss, "loss", "Cross-entropy loss"), (ax_acc, "accuracy", "Accuracy")):
            ax.plot(x, [row[f"train_{key}"] for row in epochs], "o-", label="train", markersize=3)
            ax.plot(x, [row[f"val_{key}"] for row in epochs], "s-", label="validation", markersize=3)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.set_ylabel(key)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend()
    else:
        for ax in (ax_loss, ax_acc):
            ax.text(0.5, 0.5, "no epoch history", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
    fig.tight_layout()
    return fig


def confusion_matrix_figure(cm: np.ndarray, labels: list[str], accuracy: float) -> Figure:
    """The [true, predicted] counts as a heat map, off-diagonal (mistake) counts in red."""
    k = len(labels)
    fig = _new_figure(7.5, 6.5)
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="images")
    threshold = cm.max() / 2 if cm.size else 0
    for t in range(k):
        for p in range(k):
            count = int(cm[t, p])
            if t == p:
                color = "white" if count > threshold else "black"
            else:
                color = MISTAKE_COLOR if count else "0.6"
            ax.text(p, t, str(count), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(f"Test confusion matrix (accuracy {accuracy:.4f}, {int(cm.sum())} images)")
    fig.tight_layout()
    return fig


def samples_figure(images: np.ndarray, true: np.ndarray, pred: np.ndarray, labels: list[str],
                   columns: int = 8, notes: list[str] | None = None,
                   title: str = "Test digits (mistakes in red)") -> Figure:
    """A grid of digits titled "Prediction: p / Label: t", mistakes in red with a red frame;
    `notes` adds a second title line per digit (e.g. the probability)."""
    rows = max(1, -(-len(images) // columns))
    fig = _new_figure(columns * 1.75, rows * (2.15 if notes else 1.7) + 0.3)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(images):
            ax.set_axis_off()
            continue
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        wrong = pred[i] != true[i]
        color = MISTAKE_COLOR if wrong else "black"
        caption = f"Prediction: {labels[pred[i]]} / Label: {labels[true[i]]}"
        if notes:
            caption += f"\n{notes[i]}"
        ax.set_title(caption, fontsize=8, color=color)
        for spine in ax.spines.values():
            spine.set_edgecolor(color if wrong else "0.8")
            spine.set_linewidth(2.5 if wrong else 0.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def write_report(artifact_path: Path, epochs: list[dict[str, float]], data: Mnist) -> Path:
    """Write `<version>-report/` next to the artifact and return its path.

    Raises FileExistsError if that folder exists (reports, like artifacts, are never replaced).
    """
    artifact_path = Path(artifact_path)
    artifact = load_artifact(artifact_path)
    meta = artifact.metadata
    target = report_dir_for(artifact_path, artifact.version)
    if target.exists():
        raise FileExistsError(f"{target}: report exists; not overwriting")

    labels = [str(label) for label in meta["labels"]]
    logits = predict_logits(artifact, data.test_images)
    pred = logits.argmax(axis=1)
    true = np.asarray(data.test_labels).astype(np.int64)
    result = score(true, logits, num_classes=len(labels))
    cm = np.asarray(result["confusion_matrix"])
    metrics = meta.get("metrics", {})
    recorded = metrics.get("test_accuracy")
    difference = recorded_difference(result["correct"], result["images"], recorded)
    epochs = epochs or meta.get("history") or []  # regenerating later: the history is in the metadata
    training = meta.get("training") or {}
    wall = meta.get("training_wall_time_seconds", metrics.get("wall_time_seconds"))
    if wall is None and epochs:
        wall = epochs[-1].get("seconds")
    samples = choose_samples(true, pred)
    summary: dict[str, Any] = {
        "model_name": artifact.name,
        "version": artifact.version,
        "artifact": f"{artifact_path.parent.name}/{artifact_path.name}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": metrics,
        "recorded_test_accuracy": recorded,
        "recorded_difference_images": difference,
        "matches_recorded": recorded_match(difference),
        "test": {k: result[k] for k in ("images", "correct", "accuracy", "loss")},
        "labels": labels,
        "per_class": [
            {"label": label, "precision": p, "recall": r, "support": s}
            for label, p, r, s in zip(labels, result["precision"], result["recall"], result["support"],
                                      strict=True)
        ],
        "confusion_matrix": result["confusion_matrix"],
        "epochs": epochs,
        "reproduce_command": training.get("command"),
        "wall_time_seconds": wall,
        "test_samples": [{"index": int(i), "pred": int(pred[i]), "true": int(true[i])} for i in samples],
        "data_sha256": data.sha256,
        "files": list(REPORT_FILES),
        "calibration": meta.get("calibration"),
        "ood": meta.get("ood"),
    }

    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        learning_curves_figure(epochs).savefig(tmp / "learning_curves.png")
        confusion_matrix_figure(cm, labels, result["accuracy"]).savefig(tmp / "confusion_matrix.png")
        samples_figure(data.test_images[samples], true[samples], pred[samples], labels).savefig(
            tmp / "test_samples.png")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        (tmp / "summary.md").write_text(summary_markdown(summary))
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        # rename() would silently replace an *empty* directory created since the check above;
        # a non-empty one makes it fail, which is what we report.
        if target.exists():
            raise FileExistsError(f"{target}: report exists; not overwriting")
        try:
            os.rename(tmp, target)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise FileExistsError(f"{target}: report exists; not overwriting") from None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
