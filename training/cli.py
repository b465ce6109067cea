"""`mnist-train`: the command line over the training loop (training/train.py): parse the flags,
load MNIST (one line saying what to do when it is missing), train, write the artifact and its
report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from neuralnet.artifact import ArtifactError, read_metadata, save_artifact
from training.data import DATA_DIR_ENV, IdxError, default_data_dir, load_mnist
from training.metadata import make_metadata
from training.outlier_exposure import TRAINING_KINDS
from training.outliers import SETS
from training.shifts import SHIFTS
from training.train import TrainConfig, TrainingDiverged, train


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
    p.add_argument("--shift-augment", type=float, default=d.shift_augment, metavar="SHARE",
                   help="share (0-1) of each batch's digits shifted as other sources hand them in "
                   f"({', '.join(SHIFTS)}); the not-a-digit threshold is then fitted on shifted "
                   "validation digits too (default 0: off)")
    p.add_argument("--shift-pool", type=int, default=d.shift_pool, metavar="N",
                   help="shifted training digits made once for --shift-augment to draw from")
    p.add_argument("--style-pool", type=int, default=d.style_pool, metavar="N",
                   help="digits written as MNIST's writers seldom do (1s with flag and base, printed "
                   "digits: training/styles.py) added to the --shift-augment pool (default 0)")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="save the parameters here after every epoch")
    p.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint in --checkpoint-dir (same other options)")
    p.add_argument("--average-from", type=int, default=None, metavar="EPOCH",
                   help="ship the mean of the weights after epochs EPOCH..last (from --checkpoint-dir) "
                   "instead of the best epoch's; with --resume after the last epoch, no training runs")
    p.add_argument("--distill-from", type=Path, nargs="+", default=[], metavar="ARTIFACT",
                   help="teachers: the digits also learn these versions' mean logits on the same "
                   "augmented images (distillation: one network's cost, an ensemble's answers)")
    p.add_argument("--distill-weight", type=float, default=d.distill_weight, metavar="SHARE",
                   help=f"the teachers' share (0-1) of the digits' loss (default {d.distill_weight})")
    p.add_argument("--distill-temperature", type=float, default=d.distill_temperature, metavar="T",
                   help=f"softmax temperature of the teachers' and the network's answers compared "
                   f"(default {d.distill_temperature})")
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
    for teacher in args.distill_from:
        try:
            read_metadata(teacher)
        except (ArtifactError, OSError) as exc:
            print(f"error: --distill-from: {exc}", file=sys.stderr)
            return 2
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
        shift_augment=args.shift_augment, shift_pool=args.shift_pool, style_pool=args.style_pool,
        checkpoint_dir=None if args.checkpoint_dir is None else str(args.checkpoint_dir),
        resume=args.resume, average_from=args.average_from,
        distill_from=tuple(str(path) for path in args.distill_from), distill_weight=args.distill_weight,
        distill_temperature=args.distill_temperature,
    )
    for flag, given in (("--resume", config.resume), ("--average-from", config.average_from is not None)):
        if given and config.checkpoint_dir is None:
            print(f"error: {flag} needs --checkpoint-dir", file=sys.stderr)
            return 2
    if config.average_from is not None and not 1 <= config.average_from <= config.epochs:
        print(f"error: --average-from {config.average_from}: an epoch from 1 to --epochs {config.epochs}",
              file=sys.stderr)
        return 2
    if not 0 <= config.distill_weight <= 1 or config.distill_temperature <= 0:
        print(f"error: --distill-weight {config.distill_weight} (a share from 0 to 1), --distill-temperature "
              f"{config.distill_temperature} (above 0)", file=sys.stderr)
        return 2
    if not 0 <= config.shift_augment <= 1:
        print(f"error: --shift-augment {config.shift_augment}: a share from 0 to 1", file=sys.stderr)
        return 2
    if config.style_pool and not config.shift_augment:
        print("error: --style-pool adds to the --shift-augment pool: set --shift-augment too",
              file=sys.stderr)
        return 2
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
          f"epoch {metrics['best_epoch']}, {metrics['wall_time_seconds']:.0f}s)")
    print(f"artifact: {path}")
    if args.report:
        from training.report import write_report

        report_dir = write_report(path, history.epochs, data)
        print(f"report: {report_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
