"""Real (short) training runs on slices of MNIST, and the mnist-train command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neuralnet.artifact import list_versions, load_artifact
from neuralnet.losses import one_hot, softmax_cross_entropy
from neuralnet.preprocess import normalise
from training.architectures import build_cnn, build_mlp
from training.cli import main
from training.data import Mnist, train_val_split
from training.optimizers import Adam
from training.train import TrainConfig, TrainingDiverged, normalisation_stats, train

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
QUICK = TrainConfig(arch="mlp", epochs=3, limit_train=5000, augment=False, seed=1)


def test_short_mlp_run_reaches_92_percent_on_the_test_set(mnist: Mnist) -> None:
    # 5k images, 3 epochs: the full recipe reaches ~99 %; this slice must clear 92 %.
    _, metrics, history = train(QUICK, mnist, progress=False, log=lambda _: None)
    assert metrics["test_accuracy"] >= 0.92
    assert len(history.epochs) == 3
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]


@pytest.mark.slow
def test_short_cnn_run_learns(mnist: Mnist) -> None:
    config = TrainConfig(arch="cnn", epochs=1, limit_train=2000, augment=True, seed=1)
    _, metrics, _ = train(config, mnist, progress=False, log=lambda _: None)
    assert metrics["test_accuracy"] >= 0.75


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_loss_of_one_batch_goes_down(mnist: Mnist, arch: str) -> None:
    rng = np.random.default_rng(0)
    model = build_mlp(rng) if arch == "mlp" else build_cnn(rng)
    x = normalise(mnist.train_images[:64], 0.1307, 0.3081)
    y = one_hot(mnist.train_labels[:64])
    optimizer = Adam(lr=1e-3)
    losses = []
    for _ in range(5):
        loss, grad = softmax_cross_entropy(model.forward(x, training=True), y)
        model.backward(grad)
        optimizer.step(model.parameters())
        losses.append(loss)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
def test_same_seed_gives_bit_identical_weights(mnist: Mnist) -> None:
    config = replace(QUICK, epochs=1, limit_train=1500, augment=True)
    first, _, _ = train(config, mnist, progress=False, log=lambda _: None)
    second, _, _ = train(config, mnist, progress=False, log=lambda _: None)
    other, _, _ = train(replace(config, seed=2), mnist, progress=False, log=lambda _: None)
    a, b, c = first.state(), second.state(), other.state()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_nan_loss_stops_training_with_a_clear_error(mnist: Mnist) -> None:
    images = mnist.train_images.astype(np.float32)
    images[:] = np.nan  # corrupt input: every batch yields a NaN loss
    corrupt = replace(mnist, train_images=images)
    with pytest.raises(TrainingDiverged, match="loss is nan at epoch 1, step 0"):
        train(replace(QUICK, epochs=1), corrupt, progress=False, log=lambda _: None)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is what this test provokes
def test_too_high_learning_rate_is_reported_by_the_cli(mnist: Mnist, tmp_path, capsys) -> None:
    data_dir = tmp_path / "mnist"
    code = main(["--arch", "mlp", "--epochs", "1", "--limit-train", "2000", "--optimizer", "sgd",
                 "--lr", "1e30", "--no-progress", "--no-report", "--weights-dir", str(tmp_path / "w")]
                + (["--data-dir", str(data_dir)] if data_dir.exists() else []))
    assert code == 1
    assert "training diverged" in capsys.readouterr().err
    assert list_versions(tmp_path / "w" / "mnist-mlp") == []  # nothing written


@pytest.mark.slow
def test_cli_writes_new_versions_with_metadata_and_report(mnist: Mnist, tmp_path, capsys) -> None:
    weights = tmp_path / "weights"
    args = ["--arch", "mlp", "--epochs", "1", "--limit-train", "1000", "--no-progress",
            "--weights-dir", str(weights), "--seed", "3"]
    assert main(args) == 0
    assert main([*args, "--no-report"]) == 0
    out = capsys.readouterr().out
    assert f"artifact: {weights / 'mnist-mlp' / '2.npz'}" in out
    assert list_versions(weights / "mnist-mlp") == [1, 2]
    meta = load_artifact(weights / "mnist-mlp" / "1.npz").metadata
    assert meta["format_version"] == 1 and meta["version"] == 1
    assert meta["training"]["seed"] == 3 and meta["training"]["command"].startswith("mnist-train ")
    assert set(meta["metrics"]) >= {"train_accuracy", "val_accuracy", "test_accuracy", "test_loss"}
    assert meta["data_sha256"] == mnist.sha256
    assert meta["created_at"].endswith("+00:00")
    calibration, ood = meta["calibration"], meta["ood"]
    assert calibration["method"] in ("temperature", "normalised_temperature")
    assert calibration["temperature"] > 0
    assert calibration["validation_after"]["nll"] <= calibration["validation_before"]["nll"]
    assert ood["method"] == "max_logit" and ood["validation_accepted"] >= 0.995
    assert ood["outlier_training"] == "none" and set(ood["evaluation"]["sets"]) >= {"blank", "letters"}
    report = weights / "mnist-mlp" / "1-report"
    assert {p.name for p in report.iterdir()} >= {"learning_curves.png", "confusion_matrix.png",
                                                   "test_samples.png", "summary.json", "summary.md"}
    assert json.loads((report / "summary.json").read_text())["version"] == 1
    summary = (report / "summary.md").read_text()
    assert "## Calibration" in summary and "## Not a digit" in summary and "| letters |" in summary


def test_normalisation_stats_known_answer() -> None:
    images = np.zeros((2, 28, 28), np.uint8)
    images[1] = 255  # half the pixels 0, half 1 after scaling
    assert normalisation_stats(images) == (0.5, 0.5)


def test_normalisation_stats_reproduce_the_shipped_models_constants(mnist: Mnist) -> None:
    # the notebook shows these numbers before training; they must be the ones training records
    train_idx, _ = train_val_split(len(mnist.train_images))
    mean, std = normalisation_stats(mnist.train_images[train_idx])
    for name in ("mnist-mlp", "mnist-cnn"):
        recorded = load_artifact(WEIGHTS / name / "1.npz").metadata["input"]
        assert (recorded["mean"], recorded["std"]) == (mean, std)


@pytest.mark.slow
def test_init_from_continues_an_artifact_instead_of_starting_again(mnist: Mnist, tmp_path, capsys) -> None:
    weights = tmp_path / "weights"
    base = ["--epochs", "1", "--no-progress", "--no-report", "--weights-dir", str(weights), "--seed", "3"]
    assert main(["--arch", "mlp", "--limit-train", "5000", *base]) == 0  # ~90 %: the starting point
    start = load_artifact(weights / "mnist-mlp" / "1.npz")
    # 200 images at a low learning rate: from scratch that is a poor model, from version 1 it keeps
    # version 1's accuracy
    few = ["--limit-train", "200", "--lr", "1e-4", *base]
    assert main(["--init-from", str(start.path), "--model-name", "mnist-mlp", *few]) == 0
    assert main(["--arch", "mlp", "--model-name", "from-scratch", *few]) == 0
    capsys.readouterr()
    tuned = load_artifact(weights / "mnist-mlp" / "2.npz").metadata
    scratch = load_artifact(weights / "from-scratch" / "1.npz").metadata
    assert tuned["architecture"] == start.metadata["architecture"]
    assert tuned["training"]["init_from"] == {"model_name": "mnist-mlp", "version": 1, "sha256": start.sha256}
    assert tuned["input"]["mean"] == start.metadata["input"]["mean"]  # the constants it was trained with
    before = start.metadata["metrics"]["test_accuracy"]
    assert tuned["metrics"]["test_accuracy"] > before - 0.02
    assert scratch["metrics"]["test_accuracy"] < before - 0.05
    assert scratch["training"]["init_from"] is None


def test_init_from_names_what_is_wrong(tmp_path, capsys) -> None:
    cnn = WEIGHTS / "mnist-cnn" / "1.npz"
    assert main(["--init-from", str(cnn), "--arch", "mlp", "--weights-dir", str(tmp_path)]) == 2
    assert f"--arch mlp, but {cnn} is a cnn" in capsys.readouterr().err
    assert main(["--init-from", str(tmp_path / "nope.npz"), "--weights-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --init-from") and "nope.npz" in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_missing_mnist_is_one_line_saying_what_to_do(tmp_path, capsys) -> None:
    # (on a read-only mount it says so instead of offering --download: tests/deploy/test_image.py)
    data = tmp_path / "mnist"
    assert main(["--data-dir", str(data), "--weights-dir", str(tmp_path / "w")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: MNIST not found in {data}: ")
    assert "--download" in line and "make data" in line
