"""The training loop behind `mnist-train` (training/cli.py).

Mini-batch training: augment, normalise x = (pixels/255 - mean)/std, forward, softmax cross-entropy,
backward, optimizer step. The best-on-validation epoch's parameters are kept (with `--average-from
E` the mean of the checkpoints' from epoch E on: training/averaging.py); the test set is scored once,
at the end. The result is a new artifact version (neuralnet/artifact.py).

`--init-from ARTIFACT` starts from a shipped version's weights (batch norms folded: it trains
without them) and its normalisation constants: a few epochs at a low learning rate add what the
version lacks (e.g. outlier exposure) without losing what its full schedule reached.

`--shift-augment P` replaces a share P of each batch's digits by training digits shifted as other
sources hand them in and prepared as the image route prepares a file (training/shifts.py `mixed`),
drawn from a pool of `--shift-pool` made once (a shifted digit costs more to make than the
network's step on it); the "not a digit" threshold is then fitted on clean and shifted validation
digits. `--style-pool N` adds digits in styles MNIST lacks (training/styles.py) to that pool.
`--checkpoint-dir` saves the parameters after every epoch, `--resume` continues from the latest.
`--distill-from ARTIFACT...` also teaches the digits what those versions answer (training/distillation.py).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuralnet.artifact import Artifact, load_artifact
from neuralnet.layers import Dropout
from neuralnet.losses import one_hot, softmax_cross_entropy
from neuralnet.network import Sequential
from neuralnet.preprocess import INPUT_SHAPE, normalise
from training.architectures import build_cnn, build_mlp
from training.augment import AffineConfig, random_affine
from training.averaging import average_epochs
from training.calibration import calibrate
from training.checkpoints import load_checkpoints, save_checkpoint
from training.data import Mnist, train_val_split
from training.digit_decision import decide
from training.distillation import Teachers
from training.optimizers import make_optimizer, make_schedule
from training.outlier_exposure import TRAINING_KINDS, digits_set_the_statistics, exposure_loss, outlier_pool
from training.shifts import DEFAULT_SEED as SHIFT_EVAL_SEED
from training.shifts import make_shifted, training_pool

LABELS = [str(d) for d in range(10)]
SHIFT_SEED_BASE = 2_000_000  # the training shifts' generator: never the evaluation sets' seed
SHIFTED_PER_SET = 500  # validation (threshold) and test (figures) digits shifted by each shift


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
    shift_augment: float = 0.0  # share of each batch's digits shifted (training/shifts.py); 0: none
    shift_pool: int = 20000  # shifted training digits made once, drawn from by every batch
    style_pool: int = 0  # digits in styles MNIST lacks added to that pool (training/styles.py)
    checkpoint_dir: str | None = None  # parameters saved here after every epoch
    resume: bool = False  # continue from the latest checkpoint in checkpoint_dir
    average_from: int | None = None  # ship the mean of epochs' weights from this one on (averaging.py)
    distill_from: tuple[str, ...] = ()  # artifacts whose mean logits the digits also learn (distillation.py)
    distill_weight: float = 0.5  # the teachers' share of the digits' loss
    distill_temperature: float = 2.0

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
    if config.average_from is not None and config.checkpoint_dir is None:  # refused before any training
        raise ValueError("average_from needs checkpoint_dir: the epochs' weights are averaged from there")
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

    model = build(config, rng) if initial is None else from_artifact(initial, rng)
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    history = History()
    best: tuple[float, dict[str, np.ndarray], int] | None = None
    resumed = load_checkpoints(Path(config.checkpoint_dir)) if config.resume and config.checkpoint_dir else []
    if resumed:
        model.load_state(resumed[-1].state)
        history.epochs = [c.row for c in resumed]
        top = max(resumed, key=lambda c: (c.row["val_accuracy"], -c.epoch))
        best = (top.row["val_accuracy"], top.state, top.epoch)
        log(f"resumed after epoch {resumed[-1].epoch} (best so far: epoch {top.epoch})")
    first_epoch = len(resumed) + 1
    to_train = first_epoch <= config.epochs  # the pools are made only when there is training left

    pool = None
    if config.outlier_weight > 0 and to_train:
        kinds = config.outlier_kinds or TRAINING_KINDS
        pool = outlier_pool(kinds, config.outlier_pool, config.seed).astype(np.float32) / 255.0
        log(f"outlier exposure: lambda {config.outlier_weight}, {len(pool)} outliers ({', '.join(kinds)})")
    teachers = (Teachers.load(config.distill_from, config.distill_weight, config.distill_temperature)
                if config.distill_from else None)
    optimizer = make_optimizer(config.optimizer, config.lr, config.weight_decay)
    schedule = make_schedule(config.schedule, config.lr, steps_per_epoch * config.epochs)
    affine = AffineConfig()
    shift_px = shift_y = None
    if config.shift_augment > 0 and to_train:
        shift_rng = np.random.default_rng(SHIFT_SEED_BASE + config.seed)
        shift_px, shift_y = training_pool(data.train_images[train_idx], train_y, config.shift_pool,
                                          config.style_pool, shift_rng)
        shift_px = shift_px / np.float32(255)
        log(f"shift augmentation: {config.shift_augment:.0%} of each batch's digits, from "
            f"{len(shift_px) - config.style_pool} shifted training digits and {config.style_pool} "
            "in other writing styles")
    step = (first_epoch - 1) * steps_per_epoch
    start = time.perf_counter() - (history.epochs[-1]["seconds"] if history.epochs else 0.0)
    for epoch in range(first_epoch, config.epochs + 1):
        order = rng.permutation(len(train_idx))
        batches: Iterable[int] = range(0, len(order), config.batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch",
                           leave=False, file=sys.stderr)
        loss_sum, correct = 0.0, 0
        for lo in batches:
            idx = order[lo : lo + config.batch_size]
            px, y = train_px[idx], train_y[idx]
            if shift_px is not None and shift_y is not None:
                drawn = rng.integers(len(shift_px), size=round(config.shift_augment * len(idx)))
                px[: len(drawn)], y[: len(drawn)] = shift_px[drawn], shift_y[drawn]
            if config.augment:
                px = random_affine(px, rng, affine)
            if pool is not None:
                px = np.concatenate([px, pool[rng.integers(len(pool), size=config.outlier_batch)]])
                digits_set_the_statistics(model, len(idx))
            x = ((px - np.float32(mean)) / np.float32(std)).reshape(len(px), *INPUT_SHAPE)
            logits = model.forward(x, training=True)
            taught = None if teachers is None else teachers.loss(logits[: len(idx)], y, px[: len(idx)])
            loss, grad = exposure_loss(logits, y, config.outlier_weight, digits=taught)
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
            correct += int((logits.argmax(axis=1) == y).sum())
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
        if config.checkpoint_dir is not None:
            save_checkpoint(Path(config.checkpoint_dir), epoch, model.state(), row)
    assert best is not None
    model.load_state(best[1])
    x_train = normalise(data.train_images[train_idx], mean, std)
    chosen: int | list[int] = best[2]
    if config.average_from is not None and config.checkpoint_dir is not None:
        chosen = average_epochs(model, Path(config.checkpoint_dir), config.average_from, x_train)
    wall = time.perf_counter() - start
    train_loss, train_acc, _ = evaluate(model, x_train, train_y)
    val_loss, val_acc, val_logits = evaluate(model, x_val, y_val)
    x_test = normalise(data.test_images, mean, std)
    test_loss, test_acc, test_logits = evaluate(model, x_test, data.test_labels)
    calibration = calibrate(val_logits, y_val, test_logits, data.test_labels)

    def logits_of(px: np.ndarray) -> np.ndarray:
        return model.predict_logits(normalise(px, mean, std))

    shifted_val = shifted_test = None
    if config.shift_augment > 0:
        raw_val, raw_test = data.train_images[val_idx[:SHIFTED_PER_SET]], data.test_images[:SHIFTED_PER_SET]
        shifted_val = np.concatenate([logits_of(px) for px in make_shifted(raw_val).values()])
        shifted_test = {name: (logits_of(px), data.test_labels[:SHIFTED_PER_SET])
                        for name, px in make_shifted(raw_test, SHIFT_EVAL_SEED + 1).items()}
    ood = decide(val_logits, test_logits, logits_of,
                 (calibration["method"], calibration["temperature"]),  # type: ignore[arg-type]
                 f"outlier exposure, weight {config.outlier_weight}" if config.outlier_weight > 0 else "none",
                 shifted_val_logits=shifted_val, shifted_test=shifted_test)
    log(f"{calibration['method']} {calibration['temperature']:.3f}: test ECE "
        f"{calibration['test_before']['ece']:.4f} -> {calibration['test_after']['ece']:.4f}; "  # type: ignore[index]
        f"not-a-digit threshold {ood['threshold']:.3f} (max logit)")
    metrics = {
        "train_accuracy": train_acc, "train_loss": train_loss,
        "val_accuracy": val_acc, "val_loss": val_loss,
        "test_accuracy": test_acc, "test_loss": test_loss,
        "best_epoch": chosen, "wall_time_seconds": wall,
        "normalisation": {"mean": mean, "std": std},
        "calibration": calibration, "ood": ood,
        "init_from": None if initial is None else {"model_name": initial.name, "version": initial.version,
                                                    "sha256": initial.sha256},
        "distilled_from": [] if teachers is None else teachers.provenance,
    }
    return model, metrics, history
