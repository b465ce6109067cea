"""Throughput and latency of the real `mnist-serve` process against naive FastAPI no-op endpoints.

For each worker count the server is started on a free 127.0.0.1 port with MNIST_BENCHMARK_ROUTES=1
(which adds /bench/noop/predict and /bench/noop/batch: pydantic body, no model, constant answer),
and each scenario is driven for a fixed time by `wrk` (if installed) or an asyncio httpx client.
Then the raw NumPy forward pass is timed by batch size. Prints Markdown; see benchmarks/README.md.

    python benchmarks/bench_service.py --duration 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from threadpoolctl import threadpool_limits

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench_load import Load, Result, run_httpx, run_wrk  # noqa: E402

from neuralnet.artifact import list_versions, load_artifact  # noqa: E402
from neuralnet.inference import InferenceModel  # noqa: E402
from service.config import Settings  # noqa: E402
from testkit.server import running_server  # noqa: E402

EXAMPLE = REPO_ROOT / "service" / "static" / "example_digit.json"
FORWARD_SIZES = (1, 16, 64, 256, 1024)
FEW_PER_CONNECTION = 5  # fewer completed requests than 5 per connection: a row reads low (see report)
DRAIN_TIMEOUT = 60.0
TARGET_SINGLE = 0.85
TARGET_BATCH = 3.0


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    body: bytes
    images: int  # per request


def newest_version(weights_dir: Path, model: str) -> Path:
    """The newest version's file of `model`, the one a fresh server serves."""
    return weights_dir / model / f"{list_versions(weights_dir / model)[-1]}.npz"


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def digits(batch: int) -> tuple[np.ndarray, int | None, str]:
    """`batch` real uint8 digits (batch, 28, 28), the first one's label, and where they came from."""
    data_dir = os.environ.get("MNIST_DATA_DIR")
    if data_dir:
        from training.data import load_mnist

        mnist = load_mnist(data_dir)
        return mnist.test_images[:batch], int(mnist.test_labels[0]), f"MNIST test set ({data_dir})"
    example = json.loads(EXAMPLE.read_text())
    image = np.array(example["pixels"], dtype=np.uint8)
    return np.repeat(image[None], batch, axis=0), example.get("label"), f"{EXAMPLE.name}, repeated"


def compact(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# --- the benchmark -----------------------------------------------------------------------------

def check_scenario(base_url: str, scenario: Scenario, label: int | None) -> None:
    """One request first: a scenario that does not answer 200 is an error, not a number."""
    response = httpx.post(base_url + scenario.path, content=scenario.body, timeout=DRAIN_TIMEOUT,
                          trust_env=False, headers={"content-type": "application/json"})
    if response.status_code != 200:
        raise RuntimeError(f"{scenario.path} answered {response.status_code}: {response.text[:500]}")
    if scenario.path == "/v1/predict" and label is not None and response.json()["digit"] != label:
        progress(f"warning: /v1/predict said {response.json()['digit']}, the label is {label}")


def drain(base_url: str, scenario: Scenario) -> None:
    """Wait out the requests wrk abandoned in flight when its time ran out.

    The server still computes them (in its thread pool); one more request of the same kind,
    sent after wrk has closed its connections, finishes about when they do.
    """
    started = time.perf_counter()
    httpx.post(base_url + scenario.path, content=scenario.body, timeout=DRAIN_TIMEOUT, trust_env=False,
               headers={"content-type": "application/json"})
    if time.perf_counter() - started > 1:
        progress(f"drained {scenario.path} in {time.perf_counter() - started:.1f} s")


def bench_server(args: argparse.Namespace, workers: int, scenarios: list[Scenario], label: int | None,
                 load: Load) -> dict[str, list[Result]]:
    """{scenario: one Result per round}; the rounds interleave the scenarios, so drift in the
    machine's other load touches an endpoint and its no-op alike."""
    runs: dict[str, list[Result]] = {s.name: [] for s in scenarios}
    server_args = ["--workers", str(workers), "--model", args.model, "--weights-dir", str(args.weights_dir),
                   "--log-level", args.log_level]
    with running_server(*server_args, env={"MNIST_BENCHMARK_ROUTES": "1"}, timeout=60) as server:
        for scenario in scenarios:
            check_scenario(server.base_url, scenario, label)
        for round_ in range(args.repeats):
            for scenario in scenarios:
                url = server.base_url + scenario.path
                progress(f"workers={workers} round {round_ + 1}/{args.repeats} {scenario.name}: "
                         f"run {args.duration} s")
                if args.warmup and round_ == 0:
                    load(url, scenario.body, args.warmup, args.connections, args.threads)
                    drain(server.base_url, scenario)
                runs[scenario.name].append(load(url, scenario.body, args.duration, args.connections,
                                                args.threads))
                drain(server.base_url, scenario)
        code = server.stop()
        if code != 0:
            progress(f"warning: server exited with code {code} after SIGTERM")
    return runs


def median_run(runs: list[Result]) -> Result:
    """The round with the median req/s (its latencies come with it)."""
    return sorted(runs, key=lambda r: r.rps)[(len(runs) - 1) // 2]


def median_ratio(numerators: list[Result], denominators: list[Result]) -> float:
    """Median over rounds of the paired ratio endpoint ÷ no-op (each pair ran minutes apart at most)."""
    ratios = [n.rps / d.rps for n, d in zip(numerators, denominators, strict=True) if d.rps]
    return float(np.median(ratios)) if ratios else float("nan")


def bench_forward(args: argparse.Namespace, images: np.ndarray) -> dict[int, tuple[float, float, int]]:
    """{batch size: (images/s, ms per call, calls)} for the NumPy forward pass alone."""
    model = InferenceModel.from_artifact(load_artifact(newest_version(args.weights_dir, args.model)))
    threadpool_limits(limits=Settings().blas_threads, user_api="blas")  # as the server does
    pool = images.reshape(len(images), -1).astype(np.float32)
    out: dict[int, tuple[float, float, int]] = {}
    for size in args.forward_sizes:
        x = np.resize(pool, (size, pool.shape[1]))  # repeats the real digits up to `size`
        model.predict_proba(x)  # warm-up
        calls = 0
        start = time.perf_counter()
        while calls < 100_000 and (calls == 0 or time.perf_counter() - start < args.forward_seconds):
            model.predict_proba(x)
            calls += 1
        seconds = time.perf_counter() - start
        out[size] = (calls * size / seconds, seconds / calls * 1000, calls)
    return out


def few_requests(result: Result, connections: int) -> bool:
    return result.requests < FEW_PER_CONNECTION * connections


def fmt(value: float, digits_: int = 1) -> str:
    return f"{value:,.{digits_}f}"


def report(args: argparse.Namespace, client: str, source: str, scenarios: list[Scenario],
           servers: dict[int, dict[str, list[Result]]], forward: dict[int, tuple[float, float, int]]) -> str:
    lines = [
        f"## mnist-serve benchmark: {args.model}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs "
        f"({platform.machine()}), Python {platform.python_version()}, NumPy {np.__version__}; "
        f"load: {client}, {args.connections} connections, {args.repeats} rounds of {args.duration} s per "
        f"row (rows interleaved, {args.warmup} s warm-up before the first), same machine as the server; "
        f"server log level {args.log_level}; bodies: {source}; 1-minute load average before the run: "
        f"{args.load_before:.2f} (well above 0 means other work shared the CPU).",
        "",
        "Each row is the round with the median req/s; `rounds` lists every round's req/s.",
        "",
        "| workers | scenario | endpoint | req/s | images/s | p50 ms | p95 ms | p99 ms | errors | rounds |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    medians = {w: {name: median_run(runs) for name, runs in results.items()}
               for w, results in servers.items()}
    for workers, results in medians.items():
        for s in scenarios:
            r = results[s.name]
            few = " †" if few_requests(r, args.connections) else ""
            latency = f"{r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.p99_ms:.2f}" if r.requests else "n/a | n/a | n/a"
            errors = sum(run.errors for run in servers[workers][s.name])
            rounds = ", ".join(f"{run.rps:.0f}" for run in servers[workers][s.name])
            lines.append(f"| {workers} | {s.name} | `{s.path}` | {fmt(r.rps)}{few} | "
                         f"{fmt(r.rps * s.images)} | {latency} | {errors} | {rounds} |")
    if any(few_requests(r, args.connections) for results in medians.values() for r in results.values()):
        lines += ["", f"† fewer than {FEW_PER_CONNECTION} requests per connection completed in the measured "
                  "time: wrk does not count the requests still in flight when it stops, so req/s may read "
                  "low by up to connections ÷ requests. Raise --duration for a firmer figure."]
    lines += ["", "Ratios: the median over rounds of each round's endpoint ÷ no-op (measured back to back).",
              "", "| workers | predict ÷ noop predict (req/s) | target | batch ÷ noop batch (images/s) "
              "| target |", "| ---: | ---: | --- | ---: | --- |"]
    predict, batch_, noop, noop_batch = (s.name for s in scenarios)

    def verdict(value: float, target: float, *rows: Result) -> str:
        if any(row.requests == 0 for row in rows):
            return "not measured"
        few = " †" if any(few_requests(row, args.connections) for row in rows) else ""
        return ("met" if value >= target else "MISSED") + few

    for workers, runs in servers.items():
        single = median_ratio(runs[predict], runs[noop])
        batch = median_ratio(runs[batch_], runs[noop_batch])
        m = medians[workers]
        single_ok = verdict(single, TARGET_SINGLE, m[predict], m[noop])
        batch_ok = verdict(batch, TARGET_BATCH, m[batch_], m[noop_batch])
        lines.append(f"| {workers} | {single:.2f} | ≥ {TARGET_SINGLE:g} {single_ok} "
                     f"| {batch:.2f} | ≥ {TARGET_BATCH:g} {batch_ok} |")
    lines += ["", "| NumPy forward, batch size | images/s | ms per call | calls |",
              "| ---: | ---: | ---: | ---: |"]
    for size, (ips, ms, calls) in forward.items():
        lines.append(f"| {size} | {fmt(ips, 0)} | {ms:.3f} | {calls} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="mnist-cnn", choices=["mnist-cnn", "mnist-mlp"])
    p.add_argument("--weights-dir", type=Path, default=REPO_ROOT / "weights")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    p.add_argument("--duration", type=int, default=8, help="seconds measured per scenario")
    p.add_argument("--warmup", type=int, default=1,
                   help="seconds of unmeasured load before each scenario's first round")
    p.add_argument("--repeats", type=int, default=3,
                   help="rounds over all scenarios; rows report the median round")
    p.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (the server needs the cores)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto",
                   help="load generator; auto: wrk if on PATH, else httpx")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="server log level (info logs one JSON line per request, as deployed)")
    p.add_argument("--forward-seconds", type=float, default=1.0, help="seconds per forward batch size")
    p.add_argument("--forward-sizes", default=",".join(map(str, FORWARD_SIZES)))
    args = p.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",")]
    args.forward_sizes = [int(n) for n in args.forward_sizes.split(",")]
    if min(args.workers) < 1 or args.duration < 1 or args.repeats < 1 or args.warmup < 0 \
            or args.connections < 1 or not 1 <= args.batch_size <= 1024 or min(args.forward_sizes) < 1:
        p.error("workers, duration, connections, batch size (<= 1024) and forward sizes must be positive")
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "httpx"
    elif args.client == "wrk" and not shutil.which("wrk"):
        p.error("wrk is not on PATH")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_before = os.getloadavg()[0]
    images, label, source = digits(args.batch_size)
    single = compact({"pixels": images[0].tolist()})
    batch = compact({"images": images.tolist()})
    n = args.batch_size
    scenarios = [Scenario("predict", "/v1/predict", single, 1),
                 Scenario(f"batch-{n}", "/v1/predict/batch", batch, n),
                 Scenario("noop predict", "/bench/noop/predict", single, 1),
                 Scenario(f"noop batch-{n}", "/bench/noop/batch", batch, n)]
    load = run_wrk if args.client == "wrk" else run_httpx
    client = (f"wrk ({args.threads} thread)" if args.client == "wrk"
              else "asyncio httpx client (in this process; it may be the bottleneck)")
    budget = len(args.workers) * (len(scenarios) * (args.repeats * args.duration + args.warmup) + 10) \
        + len(args.forward_sizes) * (args.forward_seconds + 1)
    progress(f"{args.model}, {client}; about {budget:.0f} s")

    progress("NumPy forward pass")
    forward = bench_forward(args, images)
    servers = {w: bench_server(args, w, scenarios, label, load) for w in args.workers}
    print(report(args, client, source, scenarios, servers, forward))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
