"""Digits from other sources, as the image route sees them: accuracy and share accepted as digits.

    pip install -e '.[bench]'     # scikit-learn, for its bundled scans of handwritten digits
    python benchmarks/real_digits_eval.py [--artifacts weights/mnist-cnn/2.npz ...]
                                          [--shifted 1000] [--markdown out.md]

Sets:
- "sklearn 8x8 (bicubic)", "(bilinear)" and "(nearest)": scikit-learn's `load_digits`, 1,797
  handwritten digits by other writers than MNIST's (UCI optical recognition set), 8x8 pixels of 17
  levels. Each is drawn dark on white, enlarged to 64x64 (three ways), saved as a PNG and prepared
  by the image route's own code (service/codecs/images.py `mnist_input`): what a user sending that
  file to /v1/predict/image gets. No model here trained on them: the held-out real set.
- "MNIST test": the 10,000 test digits as they are.
- the shifted sets of training/shifts.py, made from the first --shifted MNIST test digits with
  seed --seed (training uses other digits and seeds: its training split, its validation split).
- the non-digit sets of training/outliers (evaluation seed, 256 images each): share accepted.

Per set: accuracy, share accepted (`is_digit`: the artifact's threshold on the max logit, as the
service decides) and ECE of the artifact's calibrated probabilities.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from neuralnet.artifact import load_artifact  # noqa: E402
from neuralnet.calibration import calibration_of  # noqa: E402
from neuralnet.inference import InferenceModel  # noqa: E402
from service.codecs.images import mnist_input  # noqa: E402
from training.calibration import calibration_measures  # noqa: E402
from training.data import default_data_dir, load_mnist  # noqa: E402
from training.outliers import make_sets  # noqa: E402
from training.shifts import DEFAULT_SEED, make_shifted  # noqa: E402

DEFAULT_ARTIFACTS = [REPO_ROOT / "weights/mnist-cnn/4.npz", REPO_ROOT / "weights/mnist-cnn/5.npz",
                     REPO_ROOT / "weights/mnist-mlp/3.npz"]
UPSCALED = 64
LIMITS = (1 << 24, 1 << 24)  # bytes, pixels: far above a 64x64 PNG
# how a user might enlarge them: Pillow's default (bicubic), bilinear, or blocky (nearest)
RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
              "nearest": Image.Resampling.NEAREST}


def png_of_scan(scan: np.ndarray, resample: Image.Resampling) -> bytes:
    """An 8x8 scan (levels 0-16, ink high) as a dark-on-white UPSCALED x UPSCALED PNG."""
    gray = np.rint(255 - np.asarray(scan, np.float64) * (255 / 16)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(gray).resize((UPSCALED, UPSCALED), resample).save(buffer, "PNG")
    return buffer.getvalue()


def other_writers() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> ((N, 28, 28) uint8 as the image route prepares them, labels)."""
    from sklearn.datasets import load_digits  # benchmark-only dependency (the `bench` extra)

    scans = load_digits()
    sets = {}
    for name, resample in RESAMPLING.items():
        images = np.stack([mnist_input(png_of_scan(s, resample), *LIMITS, ["file"]) for s in scans.images])
        sets[f"sklearn 8x8 ({name})"] = (images, np.asarray(scans.target))
    return sets


def measure(model: InferenceModel, meta: dict[str, Any], images: np.ndarray,
            labels: np.ndarray | None) -> dict[str, float]:
    z = np.asarray(model.logits(images), np.float64)
    threshold = meta.get("ood", {}).get("threshold")
    row = {"accepted": float((z.max(axis=1) >= threshold).mean()) if threshold is not None else float("nan")}
    if labels is not None:
        method, temperature = calibration_of(meta) or ("temperature", 1.0)
        row["accuracy"] = float((z.argmax(axis=1) == labels).mean())
        row["ece"] = calibration_measures(z, labels, temperature, method=method)["ece"]
    return row


def markdown(results: dict[str, dict[str, dict[str, float]]], command: str) -> str:
    models = list(results)
    sets = list(next(iter(results.values())))
    lines = [f"`{command}`: per set and model, accuracy / accepted as a digit / ECE, in %", "",
             "| set | " + " | ".join(models) + " |", "| --- |" + " ---: |" * len(models)]
    for name in sets:
        cells = []
        for model in models:
            row = results[model][name]
            parts = [f"{100 * row['accuracy']:.2f}"] if "accuracy" in row else ["-"]
            parts.append(f"{100 * row['accepted']:.2f}")
            parts.append(f"{100 * row['ece']:.2f}" if "ece" in row else "-")
            cells.append(" / ".join(parts))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--artifacts", nargs="+", type=Path, default=DEFAULT_ARTIFACTS)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--shifted", type=int, default=1000, help="MNIST test digits each shift is made from")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED + 2, help="the shifted sets' seed")
    p.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)
    data = load_mnist(args.data_dir or default_data_dir())
    labelled: dict[str, tuple[np.ndarray, np.ndarray | None]] = {**other_writers()}
    labelled["MNIST test"] = (data.test_images, data.test_labels)
    test = data.test_images[: args.shifted]
    for name, images in make_shifted(test, args.seed).items():
        labelled[f"shifted: {name}"] = (images, data.test_labels[: args.shifted])
    for name, images in make_sets().items():
        labelled[f"non-digit: {name}"] = (images, None)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for path in args.artifacts:
        artifact = load_artifact(path)
        model = InferenceModel.from_artifact(artifact)
        key = f"{artifact.name} v{artifact.version}"
        if key in results:  # two candidates of one version: told apart by their file
            key = f"{key} ({path})"
        results[key] = {name: measure(model, artifact.metadata, images, labels)
                        for name, (images, labels) in labelled.items()}
        print(f"{key}: " + "; ".join(f"{name} {100 * row.get('accuracy', float('nan')):.2f} / "
                                     f"{100 * row['accepted']:.2f}"
                                     for name, row in results[key].items() if "accuracy" in row), flush=True)
    command = " ".join(["python benchmarks/real_digits_eval.py", *(argv or sys.argv[1:])])
    table = markdown(results, command)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
