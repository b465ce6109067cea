"""Batching off and on, side by side, on the real server (1 worker): a concurrency sweep of
single-image `/v1/predict` requests per model, with requests/s, p50, p99 and the mean batch size
the batcher ran, and the images/s of 4 clients sending batches of 64 as the ceiling to compare with.

Both servers run at once, on their own ports, and the rows alternate between them (off, on, off,
...), so the machine's drift falls on both alike; compare the ratios, not the absolute figures.
With --rounds R each concurrency is measured R times, alternating, and each figure is the median
of its R rows: one 5 s row of a lone client moves by a millisecond when anything else runs.

    python benchmarks/bench_batching.py --duration 5 --models mnist-cnn,mnist-mlp [--rounds 3]
                                        [--clients 1,32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench_load import Result, run_wrk  # noqa: E402

from testkit.server import ServerProcess, running_server  # noqa: E402

EXAMPLE = REPO_ROOT / "service" / "static" / "example_digit.json"
CONCURRENCY = (1, 4, 16, 32, 64)
# on: the batcher at the CNN's default size, for both models; every client admitted (the in-flight
# limit would answer some of 64 clients 503 at once)
SETTINGS = {"off": {"MNIST_BATCH_MAX_SIZE": "1", "MNIST_MAX_IN_FLIGHT": "128"},
            "on": {"MNIST_BATCH_MAX_SIZE": "64", "MNIST_MAX_IN_FLIGHT": "128"}}
BATCH_OF = 64


def batcher_totals(server: ServerProcess) -> tuple[float, float]:
    """(forward passes, images) the batcher has run so far."""
    passes = images = 0.0
    for line in httpx.get(f"{server.base_url}/metrics", trust_env=False, timeout=30).text.splitlines():
        if line.startswith("mnist_batcher_batch_size_count"):
            passes += float(line.rsplit(" ", 1)[1])
        elif line.startswith("mnist_batcher_batch_size_sum"):
            images += float(line.rsplit(" ", 1)[1])
    return passes, images


def row(server: ServerProcess, path: str, body: bytes, connections: int,
        duration: int) -> tuple[Result, float]:
    """wrk's result and the mean batch size the batcher ran meanwhile (1.0 when it did not run)."""
    passes, images = batcher_totals(server)
    result = run_wrk(f"{server.base_url}{path}", body, duration, connections, min(connections, 2))
    passes_after, images_after = batcher_totals(server)
    ran = passes_after - passes
    return result, (images_after - images) / ran if ran else 1.0


def median_row(rows: list[tuple[Result, float]]) -> tuple[Result, float]:
    """Each figure the median of the rounds' (requests/s as requests in one second)."""
    def median(figure: str) -> float:
        return statistics.median(getattr(r, figure) for r, _ in rows)
    return (Result(round(median("rps")), 1.0, sum(r.errors for r, _ in rows), median("p50_ms"),
                   median("p95_ms"), median("p99_ms")), statistics.median(batch for _, batch in rows))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--duration", type=int, default=5, help="seconds of wrk load per row")
    p.add_argument("--models", default="mnist-cnn,mnist-mlp")
    p.add_argument("--rounds", type=int, default=1, help="alternating rounds per concurrency (medians)")
    p.add_argument("--clients", default=",".join(map(str, CONCURRENCY)), help="concurrencies to measure")
    args = p.parse_args(argv)
    concurrency = [int(c) for c in args.clients.split(",")]
    pixels = json.loads(EXAMPLE.read_text())["pixels"]
    single = json.dumps({"pixels": pixels}).encode()
    batch = json.dumps({"images": [pixels] * BATCH_OF}).encode()
    print("| model | clients | batching | req/s | p50 ms | p99 ms | p99/p50 | mean batch | req/s on/off |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ceilings = []
    for model in args.models.split(","):
        with ExitStack() as stack:
            servers = {name: stack.enter_context(running_server("--model", model, env=env))
                       for name, env in SETTINGS.items()}
            for server in servers.values():  # warm up
                row(server, "/v1/predict", single, 4, 1)
            for clients in concurrency:
                rounds: dict[str, list[tuple[Result, float]]] = {name: [] for name in servers}
                for _ in range(args.rounds):
                    for name, server in servers.items():
                        rounds[name].append(row(server, "/v1/predict", single, clients, args.duration))
                measured = {name: median_row(rows) for name, rows in rounds.items()}
                off = measured["off"][0].rps
                for name, (result, mean_batch) in measured.items():
                    ratio = f"{result.rps / off:.2f}x" if name == "on" and off else ""
                    print(f"| {model} | {clients} | {name} | {result.rps:,.0f} | {result.p50_ms:.2f} | "
                          f"{result.p99_ms:.2f} | {result.p99_ms / max(result.p50_ms, 1e-9):.1f} | "
                          f"{mean_batch:.1f} | {ratio} |", flush=True)
            result, _ = row(servers["off"], "/v1/predict/batch", batch, 4, args.duration)
            ceilings.append((model, result.rps * BATCH_OF))
    for model, images in ceilings:
        print(f"\n{model}: 4 clients sending batches of {BATCH_OF}: {images:,.0f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
