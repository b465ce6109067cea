"""Integrated gradients' two integration rules side by side, in process, on MNIST test digits.

    MNIST_DATA_DIR=../shared/data/mnist OMP_NUM_THREADS=1 python benchmarks/explain_rules.py \
        [--artifact weights/mnist-cnn/1.npz] [--images 200]

"doubling": 32 equal steps, every interval halved until the completeness error is at most 1 % or
256 steps (the rule /v1/explain used first, kept here as the reference). "halving the worst":
service/models/explain.py, which halves the intervals whose own trapezoid error is largest.
Prints per rule the latency p50/p99 (ms), the share within 1 %, the p99 error and the steps
(mean / max); both rules see each digit one after the other, so the machine's load is shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from neuralnet.artifact import load_artifact  # noqa: E402
from neuralnet.inference import InferenceModel  # noqa: E402
from service.models.explain import (  # noqa: E402
    MAX_STEPS,
    START_STEPS,
    TOLERANCE,
    _gradients,
    integrated_gradients,
)
from training.data import default_data_dir, load_mnist  # noqa: E402


def doubling(model: InferenceModel, pixels: np.ndarray, target: int) -> tuple[float, int]:
    """(completeness error, steps) of the doubling rule."""
    x, m = pixels.reshape(-1), START_STEPS
    ends, g = _gradients(model, x, np.linspace(0.0, 1.0, m + 1), target)
    total, difference = g[1:-1].sum(axis=0) + (g[0] + g[-1]) / 2, ends[-1] - ends[0]
    while True:
        error = abs(float((x * total / m).sum()) - difference) / max(abs(difference), 1e-6)
        if error <= TOLERANCE or m >= MAX_STEPS:
            return error, m
        _, g = _gradients(model, x, (np.arange(m) + 0.5) / m, target)
        total, m = total + g.sum(axis=0), 2 * m


def halving(model: InferenceModel, pixels: np.ndarray, target: int) -> tuple[float, int]:
    found = integrated_gradients(model, pixels, target)
    return found.completeness_error, found.steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=REPO_ROOT / "weights" / "mnist-cnn" / "1.npz")
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args(argv)
    model = InferenceModel.from_artifact(load_artifact(args.artifact))
    images = load_mnist(default_data_dir()).test_images[: args.images].reshape(-1, 784).astype(np.float32)
    rules = {"doubling": doubling, "halving the worst": halving}
    found: dict[str, list[tuple[float, float, int]]] = {name: [] for name in rules}
    for pixels in images:
        target = int(model.logits(pixels[None]).argmax())
        for name, rule in rules.items():
            started = time.perf_counter()
            error, steps = rule(model, pixels, target)
            found[name].append(((time.perf_counter() - started) * 1000, error, steps))
    print(f"{args.artifact}, {args.images} test digits")
    print("| rule | p50 ms | p99 ms | within 1 % | p99 error | steps mean / max |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, rows in found.items():
        ms, errors, steps = (np.array(column) for column in zip(*rows, strict=True))
        print(f"| {name} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 99):.1f} | "
              f"{np.mean(errors <= TOLERANCE):.1%} | {np.percentile(errors, 99):.2%} | "
              f"{steps.mean():.0f} / {steps.max()} |")


if __name__ == "__main__":
    main()
