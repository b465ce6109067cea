"""Two builds of mnist-serve side by side: is a change slower, and by how much?

    git worktree add ../before <commit>
    python benchmarks/compare_builds.py --before ../before [--after .] [--rounds 5] [--duration 4]

Both servers run at once, each from its own checkout with this Python environment and the same
weights and settings, and the peers benchmark's loads (benchmarks/peers: a single image and a batch
of 256, as /v1 JSON, v2 JSON and v2 binary; wrk, 32 connections) alternate between them, round
after round. Drift on a noisy machine then falls on both alike, and since the peers benchmark's
ratios all divide an mnist-serve figure by a peer's measured in the same run, "every ratio within
5 %" is the same as every mnist-serve figure within 5 % of the other build's. Prints, per load, the
median requests/s and p99/p50 of each build and the median of the rounds' after ÷ before.

With `--in-process`, each round runs benchmarks/asgi_cost.py once per checkout instead (the CPU
time a request takes inside the app, no network): steadier than wrk on a 2-core machine, where a
1-worker server's requests/s move by 10-15 % from run to run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = REPO_ROOT / "benchmarks" / "peers"
for _path in (str(REPO_ROOT), str(PEERS_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from inputs import digits  # noqa: E402
from kinds import BATCH, request_kinds  # noqa: E402
from peersenv import clean_blas_env  # noqa: E402
from wrk import WrkResult, run_wrk  # noqa: E402

from testkit.server import free_port, running_command, serve_command  # noqa: E402


def started(stack: ExitStack, tree: Path, model: str, workers: int, log_dir: str) -> str:
    port = free_port()
    env = clean_blas_env()
    env.update({"PYTHONUNBUFFERED": "1", "MNIST_WORKERS": str(workers), "MNIST_BLAS_THREADS": "1",
                "MNIST_GRPC_PORT": "0"})  # a build without gRPC ignores it
    server = stack.enter_context(running_command(serve_command("--model", model, port=port), port=port,
                                                 env=env, cwd=tree, timeout=90, log_dir=log_dir))
    return server.base_url


def in_process(args: argparse.Namespace) -> int:
    """Rounds of asgi_cost.py for each checkout, alternating; the table of microseconds."""
    script = Path(__file__).resolve().parent / "asgi_cost.py"
    costs: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for round_ in range(args.rounds):
        order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
        for side in order:
            tree = (args.before if side == "before" else args.after).resolve()
            out = subprocess.run([sys.executable, str(script), "--tree", str(tree), "--model", args.model,
                                  "--requests", str(args.requests)],
                                 cwd=tree, capture_output=True, text=True, check=True, timeout=1800)
            for kind, us in json.loads(out.stdout.splitlines()[-1])["us_per_request"].items():
                costs[side].setdefault(kind, []).append(us)
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    print(f"`{' '.join(['python benchmarks/compare_builds.py', *sys.argv[1:]])}`: {args.model}, "
          f"{args.rounds} rounds; CPU microseconds per request inside the app, medians over the rounds\n")
    print("| request | before us | after us | after ÷ before (time) | before ÷ after (speed) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind, before in costs["before"].items():
        after = costs["after"][kind]
        ratio = statistics.median(a / b for a, b in zip(after, before, strict=True))
        print(f"| {kind} | {statistics.median(before):,.0f} | {statistics.median(after):,.0f} | "
              f"{ratio:.3f} | {1 / ratio:.3f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--before", type=Path, required=True, help="checkout of the build to compare with")
    p.add_argument("--after", type=Path, default=REPO_ROOT)
    p.add_argument("--model", default="mnist-mlp")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=4, help="seconds of wrk load per row")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--requests", type=int, default=1000, help="with --in-process: single requests per run")
    p.add_argument("--in-process", action="store_true", help="CPU per request inside the app "
                   "(benchmarks/asgi_cost.py) instead of wrk against servers")
    args = p.parse_args(argv)
    if args.in_process:
        return in_process(args)
    images, _ = digits(BATCH)
    kinds = request_kinds(images, args.model)
    results: dict[tuple[str, str], dict[str, list[WrkResult]]] = {key: {"before": [], "after": []}
                                                                   for key in kinds}
    with ExitStack() as stack:
        log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="compare-builds-"))
        urls = {side: started(stack, tree.resolve(), args.model, args.workers, log_dir)
                for side, tree in (("before", args.before), ("after", args.after))}
        for kind in kinds.values():  # warm up: one short load each
            for url in urls.values():
                run_wrk(url + kind.path, kind.body, kind.headers, 1, 4, 2)
        for round_ in range(args.rounds):
            order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
            for key, kind in kinds.items():
                for side in order:
                    result = run_wrk(urls[side] + kind.path, kind.body, kind.headers, args.duration,
                                     args.connections, 2)
                    if result.non2xx or result.socket_errors:
                        raise SystemExit(f"{side} {key}: {result.non2xx} non-2xx answers, "
                                         f"{result.socket_errors} socket errors")
                    results[key][side].append(result)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    print(f"`{' '.join(['python benchmarks/compare_builds.py', *(argv or sys.argv[1:])])}`: "
          f"{args.model}, {args.workers} worker(s), {args.rounds} rounds of {args.duration:g} s, "
          f"{args.connections} connections; medians over the rounds\n")
    print("| load | endpoint | before req/s | after req/s | after ÷ before | before p99/p50 "
          "| after p99/p50 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for (load, endpoint), sides in results.items():
        before, after = sides["before"], sides["after"]
        ratio = statistics.median(a.rps / b.rps for a, b in zip(after, before, strict=True))
        tail = {side: statistics.median(r.p99_ms / r.p50_ms for r in rs) for side, rs in sides.items()}
        print(f"| {load} | {endpoint} | {statistics.median(r.rps for r in before):,.0f} | "
              f"{statistics.median(r.rps for r in after):,.0f} | {ratio:.3f} | {tail['before']:.1f} | "
              f"{tail['after']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
