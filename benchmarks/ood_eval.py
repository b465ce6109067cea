"""How well each score tells digits from generated non-digits (issue 16), per model and per set.

    python benchmarks/ood_eval.py [--artifacts weights/mnist-cnn/2.npz weights/mnist-mlp/2.npz]
                                  [--size 256] [--fit-size 20000] [--markdown out.md] [--grid DIR]

Positives are the 10,000 MNIST test digits; negatives each set of training/outliers (plus
"fooling", the model's own brightened noise: each sparse-noise image brightened until the model
answers it with max softmax > 0.95). Per method it prints AUROC, and FPR: the share of the set at
or above the threshold that accepts 99.5 % of the validation digits (the 5,000 of
training.data.train_val_split, which no shipped model trained on). ">0.95" is the share of the set
the model answers with max softmax above 0.95, as the service does today. Mahalanobis is fitted on
the first --fit-size images of the training split (not validation, not test). Methods: max softmax,
max logit, energy (logsumexp), Mahalanobis in the last hidden layer, and "maha+energy": both
standardised on the validation digits and added.

Some random scribbles are plain digits. benchmarks/labels/scribbles.json records those a person read
as one at once; the row "scribbles, digits left out" scores the set without them (default seed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from neuralnet.artifact import load_artifact  # noqa: E402
from neuralnet.inference import InferenceModel  # noqa: E402
from training.data import Mnist, default_data_dir, load_mnist, train_val_split  # noqa: E402
from training.outliers import DEFAULT_SEED, SETS, make_sets, set_rng  # noqa: E402
from training.outliers.metrics import auroc, false_positive_rate, threshold_accepting  # noqa: E402
from training.outliers.noise import brighten_until_fooled, noise_bases  # noqa: E402
from training.outliers.scores import (  # noqa: E402
    Mahalanobis,
    energy,
    hidden_and_logits,
    max_logit,
    max_softmax,
)

LABELS = REPO_ROOT / "benchmarks/labels/scribbles.json"
WITHOUT_DIGITS = "scribbles, digits left out"
ACCEPT = 0.995
CONFIDENT = 0.95
# the shipped versions with the decision (trained with outlier exposure), then the plain ones before them
DEFAULT_ARTIFACTS = [REPO_ROOT / f"weights/{name}/{version}.npz"
                     for version in (2, 1) for name in ("mnist-cnn", "mnist-mlp")]
METHODS = ("softmax", "max logit", "energy", "mahalanobis", "maha+energy")


Stats = dict[str, tuple[float, float]]  # method -> (mean, std) on the validation digits


def method_scores(h: np.ndarray, z: np.ndarray, maha: Mahalanobis,
                  val_stats: Stats | None = None) -> tuple[dict[str, np.ndarray], Stats]:
    """Every method's score; "maha+energy" standardised with `val_stats` (these scores' own if None)."""
    scores = {"softmax": max_softmax(z), "max logit": max_logit(z), "energy": energy(z),
              "mahalanobis": maha.score(h)}
    if val_stats is None:
        val_stats = {k: (float(v.mean()), float(v.std())) for k, v in scores.items()}
    standard = [(scores[k] - val_stats[k][0]) / val_stats[k][1] for k in ("mahalanobis", "energy")]
    scores["maha+energy"] = standard[0] + standard[1]
    return scores, val_stats


def scribbles_read_as_digits(images: np.ndarray, seed: int) -> np.ndarray | None:
    """Indices of the scribbles in `images` labelled as digits by eye, or None where the labels do not
    apply (another seed). A labelled index whose image differs means the generator changed: an error."""
    labels = json.loads(LABELS.read_text())
    if seed != labels["seed"]:
        return None
    digits = [int(i) for i in labels["digit"] if int(i) < len(images)]
    for i in digits:
        if hashlib.sha256(images[i].tobytes()).hexdigest()[:16] != labels["digit"][str(i)]:
            raise ValueError(f"scribble {i} is not the image {LABELS.name} labelled: the set changed, "
                             "so its labels no longer apply")
    return np.array(digits, dtype=int)


def save_grid(images: np.ndarray, scores: np.ndarray, out: Path, side: int = 8) -> None:
    """The set's side x side highest-scored images, most digit-like first, dark ink on white, as a PNG:
    what a score cannot tell from digits, to look at."""
    from PIL import Image

    tiles = [np.pad(255 - images[i].reshape(28, 28).astype(np.uint8), 1, constant_values=128)
             for i in np.argsort(-scores)[: side * side]]
    tiles += [np.full((30, 30), 128, np.uint8)] * (side * side - len(tiles))
    grid = np.vstack([np.hstack(tiles[r * side:(r + 1) * side]) for r in range(side)])
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.Resampling.NEAREST).save(out)


def evaluate_model(path: Path, data: Mnist, sets: dict[str, np.ndarray], fit_size: int,
                   grid_dir: Path | None = None, read_as_digits: np.ndarray | None = None) -> dict[str, Any]:
    model = InferenceModel.from_artifact(load_artifact(path))
    train_idx, val_idx = train_val_split(len(data.train_images))
    start = time.perf_counter()
    h_fit, _ = hidden_and_logits(model, data.train_images[train_idx[:fit_size]])
    maha = Mahalanobis.fit(h_fit, data.train_labels[train_idx[:fit_size]])
    val, stats = method_scores(*hidden_and_logits(model, data.train_images[val_idx]), maha)
    h_test, z_test = hidden_and_logits(model, data.test_images)
    test, _ = method_scores(h_test, z_test, maha, stats)
    accuracy = float((z_test.argmax(axis=1) == data.test_labels).mean())
    bases = noise_bases(set_rng("brightened", DEFAULT_SEED + 1), len(next(iter(sets.values()))))
    all_sets = {**sets, "fooling": brighten_until_fooled(
        bases, lambda px: max_softmax(hidden_and_logits(model, px)[1]), CONFIDENT)}
    thresholds = {m: threshold_accepting(val[m], ACCEPT) for m in METHODS}

    def row(s: dict[str, np.ndarray]) -> dict[str, Any]:
        cells: dict[str, Any] = {m: (auroc(test[m], s[m]), false_positive_rate(s[m], thresholds[m]))
                                 for m in METHODS}
        return {**cells, "confident": float((s["softmax"] > CONFIDENT).mean())}

    rows: dict[str, dict[str, Any]] = {}
    for name, images in all_sets.items():
        s, _ = method_scores(*hidden_and_logits(model, images), maha, stats)
        if grid_dir is not None:
            save_grid(images, s["max logit"], grid_dir / f"{path.parent.name}-v{path.stem}-{name}.png")
        rows[name] = row(s)
        if name == "scribbles" and read_as_digits is not None:
            kept = np.setdiff1d(np.arange(len(images)), read_as_digits)
            rows[WITHOUT_DIGITS] = row({m: scores[kept] for m, scores in s.items()})
    return {"name": path.parent.name, "version": path.stem, "path": str(path), "accuracy": accuracy,
            "rows": rows,
            "test_rejected": {m: 1 - false_positive_rate(test[m], thresholds[m]) for m in METHODS},
            "seconds": time.perf_counter() - start}


def markdown(result: dict[str, Any]) -> str:
    head = "| set | >0.95 | " + " | ".join(f"{m} AUROC / FPR" for m in METHODS) + " |"
    title = f"**{result['name']} v{result['version']}** (`{result['path']}`)"
    lines = [f"{title}: test accuracy {100 * result['accuracy']:.2f} %; "
             "test digits rejected at the threshold: " + ", ".join(
                 f"{m} {100 * r:.2f} %" for m, r in result["test_rejected"].items()),
             "", head, "|" + " --- |" * (2 + len(METHODS))]
    for name, row in result["rows"].items():
        cells = [f"{100 * row[m][0]:.2f} / {100 * row[m][1]:.1f}" for m in METHODS]
        lines.append(f"| {name} | {100 * row['confident']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--artifacts", nargs="+", type=Path, default=DEFAULT_ARTIFACTS)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--size", type=int, default=256, help="images per set")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--fit-size", type=int, default=20000, help="training images for Mahalanobis")
    p.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    p.add_argument("--markdown", type=Path, default=None, help="also write the tables here")
    p.add_argument("--grid", type=Path, default=None, metavar="DIR",
                   help="also save each set's 64 highest-scored images (max logit) there as PNGs")
    args = p.parse_args(argv)
    if args.grid:
        args.grid.mkdir(parents=True, exist_ok=True)
    data = load_mnist(args.data_dir or default_data_dir())
    sets = make_sets(args.size, args.seed, tuple(args.sets))
    read_as_digits = scribbles_read_as_digits(sets["scribbles"], args.seed) if "scribbles" in sets else None
    command = " ".join(["python benchmarks/ood_eval.py", *(argv or sys.argv[1:])])
    out = [f"`{command}`: {args.size} images a set, "
           f"seed {args.seed}; AUROC and FPR in %, FPR at the threshold accepting "
           f"{100 * ACCEPT:.1f} % of validation digits"
           + ("" if read_as_digits is None else
              f"; {len(read_as_digits)} scribbles read as digits by eye ({LABELS.name}) left out of "
              f"\"{WITHOUT_DIGITS}\"") + "\n"]
    print(out[0], flush=True)
    for path in args.artifacts:
        result = evaluate_model(path, data, sets, args.fit_size, args.grid, read_as_digits)
        out.append(markdown(result))
        print(out[-1], flush=True)
    if args.markdown:
        args.markdown.write_text("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
