"""Tests for training.report.write_report on a tiny artifact and synthetic test digits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuralnet.network import Sequential
from neuralnet.preprocess import normalise
from testkit.artifacts import MEAN, STD, tiny_mlp
from testkit.artifacts import tiny_artifact as make_tiny_artifact
from training import report
from training.data import Mnist
from training.evaluate import confusion_matrix, per_class_precision_recall
from training.report import REPORT_FILES, choose_samples, write_report
from training.train import LABELS

COMMAND = "mnist-train --arch mlp --epochs 2 --seed 0"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EPOCHS = [
    {"epoch": 1, "train_loss": 2.1, "train_accuracy": 0.3, "val_loss": 1.9, "val_accuracy": 0.4,
     "seconds": 1.5},
    {"epoch": 2, "train_loss": 1.2, "train_accuracy": 0.6, "val_loss": 1.3, "val_accuracy": 0.55,
     "seconds": 3.0},
]


def tiny_artifact(weights_dir: Path) -> tuple[Path, Sequential]:
    model = tiny_mlp()
    path = make_tiny_artifact(
        weights_dir, network=model,
        metrics={"test_accuracy": 0.1, "val_accuracy": 0.55, "wall_time_seconds": 3.0},
        training={"command": COMMAND}, training_wall_time_seconds=3.0)
    return path, model


def tiny_data(n_test: int = 150) -> Mnist:
    rng = np.random.default_rng(1)
    return Mnist(
        train_images=np.zeros((2, 28, 28), np.uint8),
        train_labels=np.zeros(2, np.uint8),
        test_images=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        test_labels=rng.integers(0, 10, n_test, dtype=np.uint8),
        sha256={"t10k-images-idx3-ubyte.gz": "0" * 64},
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One report, written once for the module (rendering PNGs is the slow part)."""
    weights = tmp_path_factory.mktemp("weights")
    path, model = tiny_artifact(weights)
    data = tiny_data()
    out = write_report(path, EPOCHS, data)
    pred = model.forward(normalise(data.test_images, MEAN, STD), training=False).argmax(axis=1)
    return {"artifact": path, "report": out, "data": data, "pred": pred}


def test_report_folder_is_next_to_the_artifact(written: dict[str, Any]) -> None:
    artifact, out = written["artifact"], written["report"]
    assert artifact.name == "1.npz"
    assert out == artifact.parent / "1-report"
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    # nothing else left behind (no temporary folders)
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["1-report", "1.npz"]


@pytest.mark.parametrize("name", ["learning_curves.png", "confusion_matrix.png", "test_samples.png"])
def test_pngs_are_valid_images(written: dict[str, Any], name: str) -> None:
    from matplotlib.image import imread

    path = written["report"] / name
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0  # not a blank canvas


def test_summary_json_matches_a_direct_computation(written: dict[str, Any]) -> None:
    data, pred = written["data"], written["pred"]
    n = len(data.test_labels)
    assert 0 < (pred == data.test_labels).sum() < n  # random net: some right, some wrong
    summary = json.loads((written["report"] / "summary.json").read_text())
    assert summary["model_name"] == "tiny-mlp"
    assert summary["version"] == 1
    assert summary["reproduce_command"] == COMMAND
    assert summary["metrics"]["test_accuracy"] == 0.1
    assert summary["wall_time_seconds"] == 3.0
    assert summary["epochs"] == EPOCHS
    cm = np.array(summary["confusion_matrix"])
    assert cm.sum() == n
    np.testing.assert_array_equal(cm, confusion_matrix(data.test_labels, pred))
    assert summary["test"]["accuracy"] == pytest.approx((pred == data.test_labels).mean())
    precision, recall = per_class_precision_recall(cm)
    assert [row["label"] for row in summary["per_class"]] == LABELS
    for row, p, r in zip(summary["per_class"], precision, recall, strict=True):
        assert row["precision"] == (None if np.isnan(p) else pytest.approx(p))
        assert row["recall"] == (None if np.isnan(r) else pytest.approx(r))
    support = np.bincount(data.test_labels, minlength=10).tolist()
    assert [row["support"] for row in summary["per_class"]] == support


def test_samples_include_first_images_and_mistakes(written: dict[str, Any]) -> None:
    data, pred = written["data"], written["pred"]
    samples = json.loads((written["report"] / "summary.json").read_text())["test_samples"]
    assert len(samples) == 48
    assert [s["index"] for s in samples[:24]] == list(range(24))
    for s in samples:
        assert s["pred"] == pred[s["index"]] and s["true"] == data.test_labels[s["index"]]
    mistakes_after_24 = np.flatnonzero(pred != data.test_labels)
    mistakes_after_24 = mistakes_after_24[mistakes_after_24 >= 24]
    assert len(mistakes_after_24) >= 24  # so the grid's second half must be all mistakes
    assert [s["index"] for s in samples[24:]] == mistakes_after_24[:24].tolist()


def test_summary_markdown(written: dict[str, Any]) -> None:
    md = (written["report"] / "summary.md").read_text()
    assert md.startswith("# tiny-mlp v1")
    assert COMMAND in md
    assert "precision" in md and "recall" in md
    for png in ("learning_curves.png", "confusion_matrix.png", "test_samples.png"):
        assert f"]({png})" in md


def test_second_report_raises_and_keeps_the_first(written: dict[str, Any]) -> None:
    before = {p.name: p.read_bytes() for p in written["report"].iterdir()}
    with pytest.raises(FileExistsError, match="1-report"):
        write_report(written["artifact"], [], written["data"])
    assert {p.name: p.read_bytes() for p in written["report"].iterdir()} == before
    assert sorted(p.name for p in written["artifact"].parent.iterdir()) == ["1-report", "1.npz"]


def test_failed_report_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = tiny_artifact(tmp_path)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "confusion_matrix_figure", boom)  # after the first PNG is written
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(path, EPOCHS, tiny_data(n_test=30))
    assert [p.name for p in path.parent.iterdir()] == ["1.npz"]


def test_samples_figure_titles_prediction_and_label_mistakes_in_red() -> None:
    from matplotlib.colors import to_hex

    images = np.zeros((3, 28, 28), np.uint8)
    fig = report.samples_figure(images, np.array([5, 1, 7]), np.array([5, 8, 7]), LABELS, columns=2,
                                notes=["p=0.99", "p=0.51", "p=0.90"])
    axes = fig.axes
    assert len(axes) == 4  # 2 x 2 grid, the fourth cell empty
    assert [ax.get_title() for ax in axes[:3]] == [
        "Prediction: 5 / Label: 5\np=0.99",
        "Prediction: 8 / Label: 1\np=0.51",
        "Prediction: 7 / Label: 7\np=0.90",
    ]
    colors = [to_hex(ax.title.get_color()) for ax in axes[:3]]
    assert colors == ["#000000", report.MISTAKE_COLOR, "#000000"]
    assert not axes[3].axison


def test_choose_samples_known_answer() -> None:
    true = np.zeros(10, np.int64)
    pred = np.array([1, 0, 0, 0, 1, 0, 1, 1, 0, 0])  # mistakes at 0, 4, 6, 7
    np.testing.assert_array_equal(choose_samples(true, pred, first=3, mistakes=2), [0, 1, 2, 4, 6])
    # fewer mistakes than asked for: topped up with the next images in order
    np.testing.assert_array_equal(choose_samples(true, pred, first=3, mistakes=4), [0, 1, 2, 4, 6, 7, 3])
    np.testing.assert_array_equal(choose_samples(true[:2], pred[:2], first=3, mistakes=2), [0, 1])


def test_training_imports_without_matplotlib() -> None:
    code = ("import sys, training.report, training.evaluate, training.train; "
            "sys.exit('matplotlib' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_report_shows_the_shifted_digits_figures() -> None:
    from training.summary_markdown import ood_markdown

    ood = {"method": "max_logit", "score": "s", "threshold": 3.0, "validation_accepted": 0.995,
           "test_accepted": 0.996, "outlier_training": "none",
           "fitted_on": "validation digits, clean and shifted", "shifted_validation_accepted": 0.99,
           "evaluation": {"seed": 16, "size": 8, "sets": {}},
           "shifted": {"lowres8": {"accuracy": 0.9712, "accepted": 0.9688, "ece": 0.0125}}}
    text = "\n".join(ood_markdown(ood))
    assert "| lowres8 | 97.12 | 96.88 | 1.25 |" in text
    assert "clean and shifted" in text
    assert "Shifted test digits" not in "\n".join(ood_markdown({**ood, "shifted": {}}))
