"""The training loop and the `mnist-train` command.

Mini-batch training: for each batch, augment (optional), normalise x = (pixels/255 - mean)/std,
forward, softmax cross-entropy, backward, optimizer step with the scheduled learning rate.
After each epoch the validation split is scored and the best-on-validation parameters kept;
the test set is scored once, at the end, with those parameters. The result is written as a
new artifact version (see neuralnet/artifact.py) with a report folder next to it.

`--init-from ARTIFACT` starts from a shipped version's weights instead of random ones (its batch
norms are folded: the network trains without them) and keeps its normalisation constants, so a few
epochs at a low learning rate add what the version lacks (e.g. outlier exposure) without losing
the accuracy its full schedule reached.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from neuralnet.artifact import Artifact, ArtifactError, load_artifact, read_metadata, save_artifact
from neuralnet.layers import Dropout
from neuralnet.losses import one_hot, softmax_cross_entropy
from neuralnet.network import Sequential
from neuralnet.preprocess import INPUT_SHAPE, normalise
from training.architectures import build_cnn, build_mlp
from training.augment import AffineConfig, random_affine
from training.calibration import calibrate
from training.data import DATA_DIR_ENV, IdxError, Mnist, default_data_dir, load_mnist, train_val_split
from training.digit_decision import decide
from training.optimizers import make_optimizer, make_schedule
from training.outlier_exposure import (
    TRAINING_KINDS,
    digits_set_the_statistics,
    exposure_loss,
    outlier_pool,
)
from training.outliers import SETS

LABELS = [str(d) for d in range(10)]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainConfig:
    arch: str = "mlp"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "onecycle"
    weight_decay: float = 0.0
    seed: int = 0
    augment: bool = True
    val_size: int = 5000
    split_seed: int = 0
    limit_train: int | None = None  # use only the first N training examples (quick runs)
    dropout: float | None = None
    model_name: str | None = None
    outlier_weight: float = 0.0  # lambda of outlier exposure (training/outlier_exposure.py); 0: none
    outlier_kinds: tuple[str, ...] = ()  # generated sets it draws from (default: all of them)
    outlier_batch: int = 64  # outliers added to each batch
    outlier_pool: int = 2000  # pool images per kind
    init_from: str | None = None  # artifact path whose weights training starts from

    @property
    def name(self) -> str:
        return self.model_name or f"mnist-{self.arch}"


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)


def normalisation_stats(train_images: np.ndarray) -> tuple[float, float]:
    """(mean, std) of pixels / 255 over the training split: the constants `normalise` uses."""
    px = np.asarray(train_images).astype(np.float32) / 255.0
    return float(px.mean()), float(px.std())


def evaluate(model: Sequential, x: np.ndarray, labels: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(loss, accuracy, logits) on normalised inputs."""
    logits = model.predict_logits(x)
    loss, _ = softmax_cross_entropy(logits, one_hot(labels, dtype=logits.dtype))
    return loss, float((logits.argmax(axis=1) == labels).mean()), logits


def build(config: TrainConfig, rng: np.random.Generator) -> Sequential:
    if config.arch == "mlp":
        return build_mlp(rng, dropout=0.2 if config.dropout is None else config.dropout)
    if config.arch == "cnn":
        return build_cnn(rng, dropout=0.3 if config.dropout is None else config.dropout)
    raise ValueError(f"unknown arch {config.arch!r} (mlp or cnn)")


def from_artifact(artifact: Artifact, rng: np.random.Generator) -> Sequential:
    """The artifact's network, trainable: its dropout layers drawing from `rng`."""
    model = Sequential.from_artifact(artifact)
    for layer in model.layers:
        if isinstance(layer, Dropout):
            layer.rng = rng
    return model


def train(config: TrainConfig, data: Mnist, progress: bool = True,
          log: Any = print) -> tuple[Sequential, dict[str, Any], History]:
    """Train a model; returns it (best-on-validation weights), a metrics dict and the history."""
    rng = np.random.default_rng(config.seed)
    train_idx, val_idx = train_val_split(len(data.train_images), config.val_size, config.split_seed)
    if config.limit_train is not None:
        train_idx = train_idx[: config.limit_train]
    train_px = data.train_images[train_idx].astype(np.float32) / 255.0
    train_y = data.train_labels[train_idx]
    mean, std = normalisation_stats(data.train_images[train_idx])
    initial = load_artifact(config.init_from) if config.init_from is not None else None
    if initial is not None:  # the constants the starting weights were trained with
        mean, std = float(initial.metadata["input"]["mean"]), float(initial.metadata["input"]["std"])
    x_val = normalise(data.train_images[val_idx], mean, std)
    y_val = data.train_labels[val_idx]

    pool = None
    if config.outlier_weight > 0:
        kinds = config.outlier_kinds or TRAINING_KINDS
        pool = outlier_pool(kinds, config.outlier_pool, config.seed).astype(np.float32) / 255.0
        log(f"outlier exposure: lambda {config.outlier_weight}, {len(pool)} outliers ({', '.join(kinds)})")
    model = build(config, rng) if initial is None else from_artifact(initial, rng)
    optimizer = make_optimizer(config.optimizer, config.lr, config.weight_decay)
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    schedule = make_schedule(config.schedule, config.lr, steps_per_epoch * config.epochs)
    affine = AffineConfig()
    history = History()
    best: tuple[float, dict[str, np.ndarray], int] | None = None
    step = 0
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(train_idx))
        batches: Iterable[int] = range(0, len(order), config.batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch",
                           leave=False, file=sys.stderr)
        loss_sum, correct = 0.0, 0
        for lo in batches:
            idx = order[lo : lo + config.batch_size]
            px = train_px[idx]
            if config.augment:
                px = random_affine(px, rng, affine)
            if pool is not None:
                px = np.concatenate([px, pool[rng.integers(len(pool), size=config.outlier_batch)]])
                digits_set_the_statistics(model, len(idx))
            x = ((px - np.float32(mean)) / np.float32(std)).reshape(len(px), *INPUT_SHAPE)
            logits = model.forward(x, training=True)
            loss, grad = exposure_loss(logits, train_y[idx], config.outlier_weight)
            logits = logits[: len(idx)]
            if not math.isfinite(loss):
                raise TrainingDiverged(
                    f"loss is {loss} at epoch {epoch}, step {step}: training diverged "
                    f"(learning rate {schedule(step):.3g} too high?)"
                )
            model.backward(grad)
            optimizer.step(model.parameters(), lr=schedule(step))
            step += 1
            loss_sum += loss * len(idx)
            correct += int((logits.argmax(axis=1) == train_y[idx]).sum())
        val_loss, val_acc, _ = evaluate(model, x_val, y_val)
        row = {"epoch": epoch, "train_loss": loss_sum / len(order), "train_accuracy": correct / len(order),
               "val_loss": val_loss, "val_accuracy": val_acc, "seconds": time.perf_counter() - start}
        history.epochs.append(row)
        # the training figures are measured on the fly, with augmentation and dropout on: lower than
        # the report's, which evaluates the final weights on the unaugmented training images
        log(f"epoch {epoch:3d}/{config.epochs}  train (augmented, dropout on) loss {row['train_loss']:.4f}"
            f" acc {row['train_accuracy']:.4f}  val loss {val_loss:.4f} acc {val_acc:.4f}"
            f"  ({row['seconds']:.0f}s)")
        if best is None or val_acc > best[0]:
            best = (val_acc, model.state(), epoch)
    assert best is not None
    model.load_state(best[1])
    wall = time.perf_counter() - start
    train_loss, train_acc, _ = evaluate(model, normalise(data.train_images[train_idx], mean, std), train_y)
    val_loss, val_acc, val_logits = evaluate(model, x_val, y_val)
    x_test = normalise(data.test_images, mean, std)
    test_loss, test_acc, test_logits = evaluate(model, x_test, data.test_labels)
    calibration = calibrate(val_logits, y_val, test_logits, data.test_labels)
    ood = decide(val_logits, test_logits, lambda px: model.predict_logits(normalise(px, mean, std)),
                 (calibration["method"], calibration["temperature"]),  # type: ignore[arg-type]
                 f"outlier exposure, weight {config.outlier_weight}" if pool is not None else "none")
    log(f"{calibration['method']} {calibration['temperature']:.3f}: test ECE "
        f"{calibration['test_before']['ece']:.4f} -> {calibration['test_after']['ece']:.4f}; "  # type: ignore[index]
        f"not-a-digit threshold {ood['threshold']:.3f} (max logit)")
    metrics = {
        "train_accuracy": train_acc, "train_loss": train_loss,
        "val_accuracy": val_acc, "val_loss": val_loss,
        "test_accuracy": test_acc, "test_loss": test_loss,
        "best_epoch": best[2], "wall_time_seconds": wall,
        "normalisation": {"mean": mean, "std": std},
        "calibration": calibration, "ood": ood,
        "init_from": None if initial is None else {"model_name": initial.name, "version": initial.version,
                                                    "sha256": initial.sha256},
    }
    return model, metrics, history


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
            **{k: v for k, v in asdict(config).items() if k not in ("model_name", "init_from")},
            "init_from": metrics["init_from"],
            "augmentation": AffineConfig().as_dict() if config.augment else None,
            "batchnorm_folded": any(layer.kind == "batchnorm" for layer in model.layers),
            "command": command,
        },
        "metrics": {k: v for k, v in metrics.items()
                    if k not in ("normalisation", "calibration", "ood", "init_from")},
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mnist-train", description="Train an MNIST model in NumPy and "
                                "write a new versioned artifact.")
    d = TrainConfig()
    p.add_argument("--arch", choices=["mlp", "cnn"], default=None,
                   help=f"default {d.arch}, or the --init-from artifact's")
    p.add_argument("--epochs", type=int, default=None, help="default: 25 (mlp), 11 (cnn)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default=d.optimizer)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-3 adam, 0.05 sgd)")
    p.add_argument("--schedule", choices=["onecycle", "cosine", "constant"], default=d.schedule)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-augment", dest="augment", action="store_false")
    p.add_argument("--val-size", type=int, default=d.val_size)
    p.add_argument("--limit-train", type=int, default=None, help="train on the first N examples only")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="MNIST folder (default $MNIST_DATA_DIR or data/mnist)")
    p.add_argument("--download", action="store_true", help="download MNIST into --data-dir if missing")
    p.add_argument("--weights-dir", type=Path, default=Path(os.environ.get("MNIST_WEIGHTS_DIR", "weights")),
                   help="where the new version goes (default $MNIST_WEIGHTS_DIR or weights: the "
                   "folder mnist-serve serves)")
    p.add_argument("--model-name", default=None, help="default mnist-<arch>")
    p.add_argument("--outlier-weight", type=float, default=d.outlier_weight,
                   help="outlier exposure: weight of the generated non-digits' loss (0: off)")
    p.add_argument("--outlier-kinds", nargs="+", default=[], choices=list(SETS), metavar="KIND",
                   help=f"generated sets to use (default: {' '.join(TRAINING_KINDS)})")
    p.add_argument("--init-from", type=Path, default=None, metavar="ARTIFACT",
                   help="start from this artifact's weights (fine-tuning; its architecture and "
                   "model name unless --model-name)")
    p.add_argument("--no-report", dest="report", action="store_false")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p.parse_args(argv)


def _how_to_get_mnist(data_dir: Path) -> str:
    """What to run: --download only where it could write the files (not on a read-only mount)."""
    existing = next(folder for folder in (data_dir, *data_dir.absolute().parents) if folder.exists())
    where = f"point --data-dir or {DATA_DIR_ENV} at a copy"
    if os.access(existing, os.W_OK):
        return f"run `make data` from the repository, or add --download to fetch it there, or {where}"
    return f"the folder is not writable here: download it where it comes from (`make data`), or {where}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.init_from is not None:
        try:
            start = read_metadata(args.init_from)
        except (ArtifactError, OSError) as exc:
            print(f"error: --init-from: {exc}", file=sys.stderr)
            return 2
        arch = "cnn" if any(spec["type"] == "conv2d" for spec in start["architecture"]) else "mlp"
        if args.arch not in (None, arch):
            print(f"error: --arch {args.arch}, but {args.init_from} is a {arch}", file=sys.stderr)
            return 2
        args.arch, args.model_name = arch, args.model_name or start["model_name"]
    args.arch = args.arch or "mlp"
    config = TrainConfig(
        arch=args.arch, epochs=args.epochs or (25 if args.arch == "mlp" else 11),
        batch_size=args.batch_size, optimizer=args.optimizer,
        lr=args.lr or (2e-3 if args.optimizer == "adam" else 0.05), schedule=args.schedule,
        weight_decay=args.weight_decay, seed=args.seed, augment=args.augment, val_size=args.val_size,
        limit_train=args.limit_train, dropout=args.dropout, model_name=args.model_name,
        outlier_weight=args.outlier_weight, outlier_kinds=tuple(args.outlier_kinds),
        init_from=None if args.init_from is None else str(args.init_from),
    )
    data_dir = args.data_dir or default_data_dir()
    if args.download:
        from training.download import download_mnist

        download_mnist(data_dir)
    try:
        data = load_mnist(data_dir)
    except FileNotFoundError:
        print(f"error: MNIST not found in {data_dir}: {_how_to_get_mnist(data_dir)}", file=sys.stderr)
        return 2
    except IdxError as exc:
        print(f"error: MNIST in {data_dir} does not load: {exc}", file=sys.stderr)
        return 2
    command = "mnist-train " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        model, metrics, history = train(config, data, progress=args.progress)
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    metadata, arrays = make_metadata(config, model, metrics, history, data, command)
    path = save_artifact(args.weights_dir, metadata, arrays)
    print(f"test accuracy {metrics['test_accuracy']:.4f}  (val {metrics['val_accuracy']:.4f}, "
          f"best epoch {metrics['best_epoch']}, {metrics['wall_time_seconds']:.0f}s)")
    print(f"artifact: {path}")
    if args.report:
        from training.report import write_report

        report_dir = write_report(path, history.epochs, data)
        print(f"report: {report_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
