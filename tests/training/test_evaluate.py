"""Tests for training.evaluate: the metric maths on hand-made examples, and the mnist-evaluate CLI
on a tiny artifact and tiny synthetic IDX files (no real MNIST needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neuralnet.network import Sequential
from neuralnet.preprocess import normalise
from testkit.artifacts import MEAN, STD, tiny_mlp
from testkit.artifacts import tiny_artifact as make_tiny_artifact
from testkit.idx import write_idx
from training.data import MNIST_FILES, Mnist
from training.evaluate import confusion_matrix, evaluate_artifact, main, per_class_precision_recall


def test_confusion_matrix_known_answer() -> None:
    true = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(true, pred, num_classes=3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])  # [true, pred]
    assert np.issubdtype(cm.dtype, np.integer)


def test_confusion_matrix_default_is_ten_classes_and_counts_everything() -> None:
    true = np.array([9, 9, 3, 0])
    pred = np.array([9, 4, 3, 0])
    cm = confusion_matrix(true, pred)
    assert cm.shape == (10, 10)
    assert cm.sum() == 4
    assert cm[9, 9] == 1 and cm[9, 4] == 1 and cm[3, 3] == 1 and cm[0, 0] == 1


def test_confusion_matrix_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="labels"):
        confusion_matrix(np.array([0, 1]), np.array([0]), num_classes=3)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), num_classes=3)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        confusion_matrix(np.array([0, 1]), np.array([-1, 1]), num_classes=3)


def test_precision_recall_known_answer() -> None:
    cm = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    precision, recall = per_class_precision_recall(cm)
    # precision = diagonal / column sums (2, 2, 2); recall = diagonal / row sums (2, 1, 3)
    np.testing.assert_allclose(precision, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(recall, [0.5, 1.0, 2 / 3])


def test_precision_recall_undefined_is_nan() -> None:
    # class 1 is never predicted (precision 0/0); class 2 has no examples (recall 0/0) but is
    # predicted once wrongly (precision 0/1 = 0).
    cm = np.array([[3, 0, 1], [2, 0, 0], [0, 0, 0]])
    precision, recall = per_class_precision_recall(cm)
    np.testing.assert_allclose(precision, [0.6, np.nan, 0.0])
    np.testing.assert_allclose(recall, [0.75, 0.0, np.nan])


# --- the CLI on a tiny artifact ------------------------------------------------------------


def tiny_artifact(weights_dir: Path, test_accuracy: float = 0.5) -> tuple[Path, Sequential]:
    model = tiny_mlp()
    return make_tiny_artifact(weights_dir, network=model, test_accuracy=test_accuracy), model


def tiny_data(n_test: int = 120, n_train: int = 20) -> Mnist:
    rng = np.random.default_rng(1)
    return Mnist(
        train_images=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        train_labels=rng.integers(0, 10, n_train, dtype=np.uint8),
        test_images=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        test_labels=rng.integers(0, 10, n_test, dtype=np.uint8),
        sha256={},
    )


def write_mnist_dir(data: Mnist, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for key, name in MNIST_FILES.items():
        write_idx(folder / name, getattr(data, key))
    return folder


def direct_predictions(model: Sequential, data: Mnist) -> np.ndarray:
    """Predictions of the in-memory training model (not the saved artifact)."""
    return model.forward(normalise(data.test_images, MEAN, STD), training=False).argmax(axis=1)


def test_evaluate_cli_json_matches_direct_computation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tiny_data()
    data_dir = write_mnist_dir(data, tmp_path / "mnist")
    path, model = tiny_artifact(tmp_path / "weights")
    pred = direct_predictions(model, data)
    correct = int((pred == data.test_labels).sum())
    assert 0 < correct < len(pred)  # a random net: some right, some wrong, so the check has teeth

    assert main([str(path), "--data-dir", str(data_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == len(data.test_labels)
    assert out["correct"] == correct
    assert out["accuracy"] == pytest.approx(correct / len(pred))
    assert out["confusion_matrix"] == confusion_matrix(data.test_labels, pred).tolist()
    assert sum(map(sum, out["confusion_matrix"])) == len(pred)
    precision, recall = per_class_precision_recall(np.array(out["confusion_matrix"]))
    assert out["precision"] == [None if np.isnan(p) else pytest.approx(p) for p in precision]
    assert out["recall"] == [None if np.isnan(r) else pytest.approx(r) for r in recall]
    assert out["recorded_test_accuracy"] == 0.5
    assert out["recorded_difference_images"] == correct - len(pred) // 2
    assert out["matches_recorded"] is (abs(correct - len(pred) // 2) <= 1)
    assert out["model_name"] == "tiny-mlp" and out["version"] == 1
    assert np.isfinite(out["loss"]) and out["loss"] > 0


def test_evaluate_artifact_compares_with_recorded_accuracy(tmp_path: Path) -> None:
    data = tiny_data()
    n = len(data.test_labels)
    _, model = tiny_artifact(tmp_path / "scratch")
    accuracy = float((direct_predictions(model, data) == data.test_labels).mean())
    for folder, recorded, difference, matches in [
        ("same", accuracy, 0, True),
        ("one-off", accuracy - 1 / n, 1, True),  # one image of float noise is tolerated
        ("two-off", accuracy + 2 / n, -2, False),
    ]:
        path, _ = tiny_artifact(tmp_path / folder, test_accuracy=recorded)
        result = evaluate_artifact(path, data)
        assert result["recorded_difference_images"] == difference, folder
        assert result["matches_recorded"] is matches, folder


def test_evaluate_cli_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tiny_data()
    data_dir = write_mnist_dir(data, tmp_path / "mnist")
    path, _ = tiny_artifact(tmp_path / "weights", test_accuracy=1.0)  # a random net is not 100% right
    assert main([str(path), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "tiny-mlp v1" in out
    assert "DOES NOT MATCH" in out
    assert "precision" in out and "recall" in out
    assert "confusion matrix" in out
    matrix_rows = out.split("confusion matrix")[1].strip().splitlines()[2:]
    assert len(matrix_rows) == 10
    assert sum(int(v) for row in matrix_rows for v in row.split()[1:]) == len(data.test_labels)


def test_evaluate_cli_missing_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope" / "1.npz"
    assert main([str(missing), "--data-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert str(missing) in captured.err and "no such file" in captured.err


def test_evaluate_cli_missing_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = tiny_artifact(tmp_path / "weights")
    assert main([str(path), "--data-dir", str(tmp_path / "no-mnist")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and "not found" in captured.err
