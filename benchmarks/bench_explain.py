"""Latency of /v1/explain against /v1/predict on a real `mnist-serve`, per model.

    MNIST_DATA_DIR=../shared/data/mnist python benchmarks/bench_explain.py [--images 200]

One server (one worker), one client sending the first --images MNIST test digits one at a time
(after 10 to warm up), interleaving the two routes so that both see the same machine load. Prints
per model and route the p50 and p99 latency in ms, and for /v1/explain the completeness error
(median, p99, share within 1 %) and the integration steps the adaptive rule took.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from testkit.server import running_server  # noqa: E402
from training.data import default_data_dir, load_mnist  # noqa: E402

WARM_UP = 10


def measure(base_url: str, model: str, images: np.ndarray) -> dict[str, object]:
    seconds: dict[str, list[float]] = {"predict": [], "explain": []}
    errors, steps = [], Counter()
    with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as client:
        for i, image in enumerate(images):
            body = {"pixels": image.tolist()}
            for route in ("predict", "explain"):
                started = time.perf_counter()
                answer = client.post(f"/v1/{route}?model={model}", json=body)
                elapsed = time.perf_counter() - started
                answer.raise_for_status()
                if i < WARM_UP:
                    continue
                seconds[route].append(elapsed)
                if route == "explain":
                    errors.append(answer.json()["completeness_error"])
                    steps[answer.json()["steps"]] += 1
    ms = {route: np.array(values) * 1000 for route, values in seconds.items()}
    return {"ms": ms, "errors": np.array(errors), "steps": steps}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["mnist-mlp", "mnist-cnn"])
    args = parser.parse_args(argv)
    images = load_mnist(default_data_dir()).test_images[: args.images + WARM_UP]
    print(f"{args.images} MNIST test digits, one at a time, after {WARM_UP} to warm up")
    print("| model | route | p50 ms | p99 ms | completeness error median / p99 | within 1 % | steps |")
    print("| --- | --- | ---: | ---: | --- | ---: | --- |")
    with running_server("--workers", "1") as server:
        for model in args.models:
            result = measure(server.base_url, model, images)
            for route, ms in result["ms"].items():  # type: ignore[attr-defined]
                extra = ["", "", ""]
                if route == "explain":
                    errors, steps = result["errors"], result["steps"]
                    extra = [f"{100 * np.median(errors):.2f} % / {100 * np.percentile(errors, 99):.2f} %",
                             f"{100 * np.mean(errors <= 0.01):.1f} %",
                             ", ".join(f"{k}: {v}" for k, v in sorted(steps.items()))]
                p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
                print(f"| {model} | /v1/{route} | {p50:.1f} | {p99:.1f} | " + " | ".join(extra) + " |")


if __name__ == "__main__":
    main()
