"""mnist-serve against its peers: MLServer 1.7.1, a minimal FastAPI app, and the bare NumPy forward pass.

One server after another, each on a free 127.0.0.1 port, serves the same artifact with the same
forward pass (`neuralnet.inference.InferenceModel`), so only the serving machinery differs:

- MLServer 1.7.1 with a custom runtime (mlserver_runtime.py) in its own environment,
  benchmarks/peers/.venv (made by `--setup`, or on first use): once with its defaults, once with
  `parallel_workers=0` (inference in the server process);
- reference_app.py, the least a FastAPI app needs, under uvicorn in the service's environment;
- mnist-serve itself (`python -m service.cli`), with each `--workers` count.

Each answers one request of every kind first, checked against the in-process model (max abs
difference of probabilities <= 1e-4, else the run stops); then `wrk` drives each load. Prints
Markdown: the results, the ratios against the targets (met / missed), memory. See
benchmarks/README.md, section "Peers".

The parts, one module each next to this script: wrk.py (running wrk, reading its output), kinds.py
(the requests and the answer checks), servers.py (starting each server, its memory), report.py (the
rows, the targets, the Markdown tables); this script parses the command line, measures each server in
turn (`bench_server`) and prints the report.

    .venv/bin/python benchmarks/peers/run.py --duration 12
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

PEERS_DIR = Path(__file__).resolve().parent
REPO_ROOT = PEERS_DIR.parent.parent
for _path in (str(REPO_ROOT), str(PEERS_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from grpc_load import ENDPOINT as GRPC  # noqa: E402
from grpc_load import GRPCKind, call, check_grpc_answer, grpc_kinds, run_h2load  # noqa: E402
from inputs import digits, forward_img_s  # noqa: E402
from kinds import BATCH, LOADS, AnswerError, Kind, check_answer, drain, request_kinds  # noqa: E402
from peersenv import PEERS_PYTHON, ensure_peers_venv, reexec_without_blas_overrides  # noqa: E402
from report import (  # noqa: E402
    MLSERVER_DEFAULT,
    MLSERVER_PW0,
    MNIST_SERVE,
    REFERENCE,
    Memory,
    Row,
    Run,
    _versions_text,
    blas_kernel,
    env_versions,
    memory_table,
    results_table,
    targets,
    targets_table,
)
from servers import (  # noqa: E402
    ServerProcess,
    ServerSpec,
    kill_leftovers,
    latest_artifact,
    mlserver,
    mnist_serve,
    reference_app,
    tree_memory_mb,
)
from wrk import WrkResult, run_wrk  # noqa: E402  (WrkResult re-exported too: tests/benchmarks read it here)
from wrk import parse_wrk as parse_wrk  # noqa: E402  (re-exported: tests/benchmarks read it here)

from neuralnet.artifact import load_artifact  # noqa: E402
from neuralnet.inference import InferenceModel  # noqa: E402
from service.models.loaded_model import LoadedModel  # noqa: E402

EXAMPLE = REPO_ROOT / "service" / "static" / "example_digit.json"
SERVERS = ("mlserver", "reference", "mnist-serve")
TOLERANCE = 1e-4


def progress(message: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--setup", action="store_true",
                   help="(re)install benchmarks/peers/.venv from requirements.txt and exit")
    p.add_argument("--duration", type=float, default=12, help="seconds of wrk load per row")
    p.add_argument("--rounds", type=int, default=1, help="times every server's loads are run (the "
                   "tables keep the last; memory is read after each: it must not grow)")
    p.add_argument("--warmup", type=float, default=1, help="seconds of unmeasured load before each row")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--workers", default="1,2", help="mnist-serve worker counts (the others run 1)")
    p.add_argument("--only", default=",".join(SERVERS), help=f"comma-separated subset of {','.join(SERVERS)}")
    p.add_argument("--endpoints", help="comma-separated subset of the endpoints to drive (default all: "
                   "/v1 JSON, v2 JSON, v2 binary, gRPC raw)")
    p.add_argument("--model", default="mnist-mlp", help="weights/<model>/ (latest version)")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads per server process (mnist-serve: MNIST_BLAS_THREADS; "
                        "the others: OPENBLAS_NUM_THREADS)")
    p.add_argument("--log-dir", type=Path, help="keep the servers' logs here (default: a temporary folder)")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SERVERS)
    if unknown:
        p.error(f"--only: unknown {sorted(unknown)}; choose from {', '.join(SERVERS)}")
    args.workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    args.endpoints = [e.strip() for e in args.endpoints.split(",")] if args.endpoints else None
    return args


def check_kind(server: ServerProcess, kind: Kind | GRPCKind, expected: np.ndarray) -> float:
    if isinstance(kind, GRPCKind):
        return check_grpc_answer(f"127.0.0.1:{server.grpc_port}", kind, expected)
    return check_answer(server.base_url, kind, expected)


def load_kind(args: argparse.Namespace, server: ServerProcess, kind: Kind | GRPCKind, seconds: float,
              warmup: float = 0.0) -> WrkResult:
    """`seconds` of load of one kind: wrk for HTTP, h2load for gRPC; then the calls left in flight
    are waited out."""
    if isinstance(kind, GRPCKind):
        address = f"127.0.0.1:{server.grpc_port}"
        result = run_h2load(address, kind, seconds, args.connections, args.threads, warmup)
        call(address, kind)  # one more, answered: the load's calls are done, and still answered
        return result
    if warmup > 0:
        run_wrk(server.base_url + kind.path, kind.body, kind.headers, warmup, args.connections, args.threads)
        drain(server.base_url, kind)
    result = run_wrk(server.base_url + kind.path, kind.body, kind.headers, seconds, args.connections,
                     args.threads)
    drain(server.base_url, kind)
    return result


def bench_server(args: argparse.Namespace, spec: ServerSpec, kinds: dict[tuple[str, str], Kind | GRPCKind],
                 expected: dict[str, np.ndarray], log_dir: Path, run: Run) -> None:
    progress(f"starting {spec.label} ({spec.workers} worker(s))")
    with spec.start(log_dir) as server:
        try:
            measured: list[Kind | GRPCKind] = []
            unsupported: list[Row] = []
            for (load, endpoint), kind in kinds.items():
                if endpoint not in spec.endpoints or (args.endpoints and endpoint not in args.endpoints):
                    continue
                try:
                    diff = check_kind(server, kind, expected[load])
                except AnswerError as exc:
                    if endpoint not in spec.optional:
                        raise
                    # tried, not required: MLServer has no binary tensor extension (the body must be JSON)
                    note = f"not supported (HTTP {exc.status})"
                    run.checks.append((spec.label, spec.workers, load, endpoint, note))
                    unsupported.append(Row(spec.label, spec.workers, load, endpoint, kind.images, note=note))
                    continue
                run.checks.append((spec.label, spec.workers, load, endpoint, f"{diff:.2e}"))
                if diff > TOLERANCE:
                    raise SystemExit(f"{spec.label} {endpoint} {load}: probabilities differ from the "
                                     f"in-process model by {diff:.3g} > {TOLERANCE:g}")
                measured.append(kind)
            rss, _, _ = tree_memory_mb(server.process.pid)
            after_rounds: list[float] = []
            for round_ in range(1, args.rounds + 1):  # the tables keep the last round's rows
                rows: list[Row] = []
                for kind in measured:
                    progress(f"{spec.label} x{spec.workers}: round {round_}, {kind.load} {kind.endpoint} "
                             f"for {args.duration:g} s")
                    result = load_kind(args, server, kind, args.duration, args.warmup if round_ == 1 else 0)
                    rows.append(Row(spec.label, spec.workers, kind.load, kind.endpoint, kind.images, result))
                after_rounds.append(tree_memory_mb(server.process.pid)[0])
            run.rows.extend(rows)
            run.rows.extend(unsupported)
            _, peak, count = tree_memory_mb(server.process.pid)
            run.memory.append(Memory(spec.label, spec.workers, count, rss, after_rounds, peak))
        finally:
            server.stop()
            kill_leftovers(server)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    reexec_without_blas_overrides(str(Path(__file__).resolve()), argv)
    # SIGTERM unwinds like Ctrl-C, so every server started so far is stopped on the way out
    signal.signal(signal.SIGTERM, _exit_on_signal)
    args = parse_args(argv)
    if args.setup:
        ensure_peers_venv(force=True)
        return 0
    if "mlserver" in args.only:
        ensure_peers_venv()
    artifact = latest_artifact(args.model)
    model = InferenceModel.from_artifact(load_artifact(artifact))
    images, source = digits(BATCH)
    flat = images.reshape(BATCH, 784).astype(np.float32)
    expected = {load: model.predict_proba(flat[:n]).astype(np.float64) for load, n in LOADS.items()}
    # mnist-serve answers with the artifact's calibration (temperature) when it has one; the peers
    # compute the bare forward pass: each is checked against what it computes
    served = LoadedModel.load(artifact)
    served_expected = {load: served.predict(flat[:n]).proba.astype(np.float64) for load, n in LOADS.items()}
    kinds: dict[tuple[str, str], Kind | GRPCKind] = {**request_kinds(images, args.model),
                                                     **grpc_kinds(images, args.model)}

    service_versions = env_versions(sys.executable, ["numpy", "fastapi", "starlette", "uvicorn", "pydantic",
                                                     "orjson", "httptools", "uvloop"])
    specs: list[ServerSpec] = []
    if "mlserver" in args.only:
        ml_versions = env_versions(str(PEERS_PYTHON), ["mlserver", "numpy", "fastapi", "starlette", "uvicorn",
                                                       "pydantic", "orjson", "uvloop", "httptools"])
        ml_text = f"{_versions_text(ml_versions)}; BLAS {ml_versions.get('blas')}"
        for label, pw in ((MLSERVER_DEFAULT, None), (MLSERVER_PW0, 0)):
            specs.append(ServerSpec(label, 1, ("v2 JSON", "v2 binary", GRPC),
                                    partial(mlserver, args.model, artifact, args.blas_threads,
                                            parallel_workers=pw),
                                    ml_text, optional=("v2 binary",)))
    service_text = f"{_versions_text(service_versions)}; BLAS {service_versions.get('blas')}"
    if "reference" in args.only:
        specs.append(ServerSpec(REFERENCE, 1, ("/v1 JSON",),
                                partial(reference_app, artifact, args.blas_threads), service_text))
    if "mnist-serve" in args.only:
        for w in args.workers:
            specs.append(ServerSpec(MNIST_SERVE, w, ("/v1 JSON", "v2 JSON", "v2 binary", GRPC),
                                    partial(mnist_serve, args.model, w, args.blas_threads),
                                    service_text))

    run = Run()
    progress(f"timing the NumPy forward pass at batch {BATCH} in process")
    run.forward_img_s = forward_img_s(model, flat)
    with contextlib.ExitStack() as stack:
        log_dir = args.log_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="peers-logs-")))
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        for spec in specs:
            bench_server(args, spec, kinds, served_expected if spec.label == MNIST_SERVE else expected,
                         Path(log_dir), run)

    script = Path(__file__).resolve()
    shown = script.relative_to(REPO_ROOT) if script.is_relative_to(REPO_ROOT) else script
    command = shlex.join([sys.executable, str(shown), *argv])
    print(f"# mnist-serve and its peers: {args.model} ({artifact.relative_to(REPO_ROOT)})\n")
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- CPU count: {os.cpu_count()} ({platform.processor() or platform.machine()})")
    print(f"- Python {platform.python_version()}, NumPy {np.__version__}; "
          f"BLAS kernel in process: {blas_kernel()}")
    print("- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: unset for every process")
    print(f"- BLAS threads per server process: {args.blas_threads}")
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        if (spec.label, spec.versions) not in seen:
            seen.add((spec.label, spec.versions))
            print(f"- {spec.label}: {spec.versions}")
    print(f"- load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency "
          f"(after {args.warmup:g} s warm-up), one fixed body per row; bodies from {source}; gRPC: "
          f"h2load -c{args.connections} -m1 -t{args.threads} for the same time, one fixed message")
    print(f"- command: `{command}`\n")
    print("## Answers checked against the in-process model (max abs difference of probabilities)\n")
    print("| server | workers | load | endpoint | max abs diff |\n| --- | ---: | --- | --- | --- |")
    for label, w, load, endpoint, diff in run.checks:
        print(f"| {label} | {w} | {load} | {endpoint} | {diff} |")
    print("\n## Results\n")
    print(results_table(run.rows))
    print(f"\nNumPy forward pass in process, batch {BATCH}, 1 BLAS thread: {run.forward_img_s:,.0f} img/s\n")
    print("## Targets\n")
    print(targets_table(targets(run.rows, run.forward_img_s, args.connections)))
    print("\n## Memory (process tree: server and its workers)\n")
    print(memory_table(run.memory))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers were stopped on the way out
        print("[peers] interrupted; every server started was stopped", file=sys.stderr)
        sys.exit(130)
