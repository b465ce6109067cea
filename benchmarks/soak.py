"""Soak test: the real `mnist-serve` under a mixed load at ~80 % of its measured maximum for a set
time, printing errors, latency and memory as it goes; optionally SIGKILLs a worker midway.

    python benchmarks/soak.py --model mnist-mlp --duration 120
    python benchmarks/soak.py --workers 2 --kill-worker-at 30 --duration 90 --json-out soak.json

Without --rate it first measures the maximum: a closed-loop burst of the same mix (every connection
sends its next request as soon as the last is answered), then paces the soak at 80 % of it. The
mix and its checks are in soak_mix.py, the load generator processes in soak_load.py, /proc and
the readiness probe in soak_monitor.py. Targets (PASS/FAIL lines; exit status 1 if one fails):
at least --requests-min answered, 0 unexpected errors, RSS growing < 5 % from warm-up (20 % of
the duration) to the end, readiness always 200, a clean shutdown; with --kill-worker-at, the
worker replaced and only the requests (and at most one readiness poll) in flight on it lost.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

from soak_load import REQUEST_TIMEOUT, LoadSpec, Totals, classify, run_client  # noqa: E402
from soak_mix import build_mix  # noqa: E402
from soak_monitor import ReadinessPoller, cpu_seconds, descendants, rss_mib, workers  # noqa: E402
from soak_report import REPLACE_TIMEOUT, WARM_FRACTION, checks, report  # noqa: E402

from testkit.server import HOST, running_server  # noqa: E402

SHARE = 0.8  # of the measured maximum
MAX_WARMUP = 1.0  # seconds of the max burst not counted
CLIENT_START = 3.0  # seconds allowed for the load processes to start (spawn, imports, bodies)
STARTED = "Application startup complete."  # uvicorn's line once a worker serves
LOG_PROBLEM = re.compile(r"traceback|exception|error|critical|warn", re.IGNORECASE)  # uvicorn: WARNING:


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p99) in the unit of `values`, rounded to 0.01."""
    if not values:
        return 0.0, 0.0
    p50, p99 = np.percentile(values, [50, 99]).round(2).tolist()
    return p50, p99


def run_phase(args: argparse.Namespace, base_url: str, rate: float | None, seconds: float, totals: Totals,
              on_tick: Callable[[float], None], measure_from: float = 0.0) -> float:
    """Run the load processes for `seconds` and merge their windows into `totals`, calling `on_tick`
    with the phase's start (monotonic) several times a second; returns that start."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with a poller thread
    windows = context.Queue()
    start_at = time.monotonic() + CLIENT_START
    share = rate / args.clients if rate is not None else None
    processes = [context.Process(target=run_client, daemon=True, args=(LoadSpec(
        base_url, args.model, share, start_at, seconds, args.connections, args.seed + i, args.client,
        start_at + measure_from), windows)) for i in range(args.clients)]
    for process in processes:
        process.start()
    done = 0
    deadline = start_at + seconds + REQUEST_TIMEOUT + 30
    while done < len(processes):
        try:
            kind, message = windows.get(timeout=0.2)
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in processes) or time.monotonic() > deadline:
                raise RuntimeError("a load process failed or hung; see its output above") from None
        else:
            if kind == "done":
                done += 1
            else:
                totals.add(message)
        on_tick(start_at)
    for process in processes:
        process.join()
    return start_at


class Watch:
    """Runs on every tick of the soak: RSS once a second, the kill, the replacement, progress lines."""

    def __init__(self, args: argparse.Namespace, root: int, totals: Totals, expect: dict[str, int],
                 log_text: Callable[[], str]) -> None:
        self.args, self.root, self.totals, self.expect, self.log_text = args, root, totals, expect, log_text
        self.rss: list[tuple[float, float]] = []  # (seconds into the soak, MiB)
        self.idle_rss = 0.0
        self.kill: dict[str, Any] | None = None
        self.kill_at: float | None = None  # monotonic
        self.next_sample, self.next_print = 0.0, float(args.report_every)
        self.last = (0.0, 0)

    def tick(self, start_at: float) -> None:
        t = time.monotonic() - start_at
        if t < 0:
            return
        if t >= self.next_sample and t <= self.args.duration:
            self.rss.append((round(t, 1), round(rss_mib(descendants(self.root)), 1)))
            self.next_sample += 1.0
        if self.args.kill_worker_at is not None and self.kill is None and t >= self.args.kill_worker_at:
            self.kill_worker(t)
        if self.kill is not None and self.kill_at is not None:
            self.watch_replacement(self.kill, time.monotonic() - self.kill_at)
        if t >= self.next_print:
            self.progress(t)
            self.next_print += self.args.report_every

    def watch_replacement(self, kill: dict[str, Any], since: float) -> None:
        """The new worker's pid (uvicorn starts it), then its startup line in the log (it serves)."""
        if kill["new_pid"] is None:
            fresh = [pid for pid in workers(self.root) if pid not in kill["before"]]
            if fresh:
                kill.update(new_pid=fresh[0], replaced_after_s=round(since, 2))
                print(f"  worker {fresh[0]} started {since:.2f} s after the kill", flush=True)
        elif kill["ready_after_s"] is None and self.log_text().count(STARTED) > kill["started_lines"]:
            kill["ready_after_s"] = round(since, 2)
            print(f"  worker {kill['new_pid']} ready {since:.2f} s after the kill", flush=True)

    def await_replacement(self) -> None:
        """After the load: give the new worker until REPLACE_TIMEOUT after the kill to serve, so
        a short run on a slow machine still sees it start."""
        while (self.kill is not None and self.kill_at is not None and self.kill["ready_after_s"] is None
               and time.monotonic() - self.kill_at < REPLACE_TIMEOUT):
            self.watch_replacement(self.kill, time.monotonic() - self.kill_at)
            time.sleep(0.1)

    def kill_worker(self, t: float) -> None:
        before = workers(self.root)
        self.kill = {"at_s": round(t, 2), "before": before, "pid": None, "new_pid": None,
                     "replaced_after_s": None, "ready_after_s": None,
                     "started_lines": self.log_text().count(STARTED),
                     "cpu_s_at_kill": {pid: cpu_seconds(pid) for pid in before}}
        if not before:
            print("  no worker process to kill (--workers 1 runs the server in one process)", flush=True)
            return
        self.kill["pid"] = before[0]
        os.kill(before[0], signal.SIGKILL)
        self.kill_at = time.monotonic()
        print(f"  {t:6.1f} s  SIGKILL worker {before[0]} (workers {before})", flush=True)

    def progress(self, t: float) -> None:
        sent = self.totals.sent()
        rate = (sent - self.last[1]) / max(t - self.last[0], 1e-9)
        self.last = (t, sent)
        unexpected, lost = classify(self.totals, self.expect, self.kill_at)
        p50, p99 = percentiles(self.totals.recent)
        self.totals.recent = []
        errors = " ".join(f"{k}:{o}={n}" for k, outcomes in unexpected.items() for o, n in outcomes.items())
        print(f"  {t:6.1f} s  {sent:>9,} sent  {rate:7,.0f}/s  unexpected "
              f"{sum(sum(o.values()) for o in unexpected.values())}  lost {len(lost)}  "
              f"rss {self.rss[-1][1] if self.rss else 0:.1f} MiB  p50 {p50:.1f} ms  p99 {p99:.1f} ms"
              + (f"  [{errors}]" if errors else ""), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist-mlp")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of soak")
    p.add_argument("--rate", type=float, help="requests/s (default: 80 %% of a measured maximum)")
    p.add_argument("--max-seconds", type=float, default=5.0, help="length of the maximum's burst")
    p.add_argument("--kill-worker-at", type=float, help="seconds into the soak to SIGKILL a worker")
    p.add_argument("--requests-min", type=int, default=0, help="fail if fewer requests are answered")
    p.add_argument("--clients", type=int, default=1, help="load generator processes")
    p.add_argument("--connections", type=int, default=16, help="keep-alive connections per client; keep "
                   "clients x connections <= 32 per worker (MNIST_MAX_IN_FLIGHT) or expect 503s")
    p.add_argument("--client", choices=["raw", "httpx"], default="raw", help="HTTP client of the load "
                   "(soak_raw.py: far less CPU per request than httpx, which shares the cores)")
    p.add_argument("--report-every", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", type=Path, help="write the summary here")
    p.add_argument("--log-dir", type=Path, help="keep the server's log here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    expect = {kind.name: kind.expect for kind in build_mix(args.model)}
    server_args = ("--model", args.model, "--workers", str(args.workers), "--log-level", "info")
    burst, totals = Totals(), Totals()
    with running_server(*server_args, env={"MNIST_ACCESS_LOG": "false"}, timeout=60,
                        log_dir=args.log_dir) as server:
        root = server.process.pid
        idle_rss = rss_mib(descendants(root))  # before any request
        max_rate = None
        if args.rate is None:
            print(f"measuring the maximum: {args.max_seconds:g} s closed loop, {args.clients} x "
                  f"{args.connections} connections", flush=True)
            run_phase(args, server.base_url, None, MAX_WARMUP + args.max_seconds, burst, lambda _: None,
                      MAX_WARMUP)
            max_rate = burst.measured / args.max_seconds
        rate = args.rate if max_rate is None else SHARE * max_rate
        measured = f"{max_rate:,.0f} req/s" if max_rate is not None else "not measured"
        print(f"maximum {measured}; soak at {rate:,.0f} req/s for {args.duration:g} s ({args.model}, "
              f"{args.workers} worker(s), {args.clients} x {args.connections} connections)", flush=True)
        watch = Watch(args, root, totals, expect, server.log_text)
        watch.idle_rss = idle_rss
        poller = ReadinessPoller(HOST, server.port)
        poller.start()
        started = run_phase(args, server.base_url, rate, args.duration, totals, watch.tick)
        poller.stop()
        watch.await_replacement()
        alive = {pid: cpu_seconds(pid) for pid in workers(root)}  # CPU s: does the new worker get work?
        exit_code = server.stop()
        log_problems = [line for line in server.log_text().splitlines() if LOG_PROBLEM.search(line)]
    summary = summarize(args, expect, burst, totals, watch, poller, started)
    summary.update(max_rate=max_rate, target_rate=rate, server_exit_code=exit_code,
                   server_log_problems=log_problems[:50])
    if watch.kill is not None:
        summary["kill"] = {**watch.kill, "workers_at_end": alive}
    summary["checks"] = checks(args, summary)
    summary["passed"] = all(c["passed"] for c in summary["checks"])
    report(summary)
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["passed"] else 1


def summarize(args: argparse.Namespace, expect: dict[str, int], burst: Totals, totals: Totals, watch: Watch,
              poller: ReadinessPoller, started: float) -> dict[str, Any]:
    unexpected, lost = classify(totals, expect, watch.kill_at)
    failed, lost_polls = poller.split_failures(watch.kill_at)
    burst_unexpected, _ = classify(burst, expect, None)
    warm = next((mib for t, mib in watch.rss if t >= WARM_FRACTION * args.duration), watch.rss[-1][1])
    end = watch.rss[-1][1]
    p50, p99 = percentiles([v for values in totals.latencies.values() for v in values])
    return {
        "model": args.model, "workers": args.workers, "clients": args.clients,
        "connections": args.connections, "duration_s": args.duration, "requests": totals.sent(),
        "achieved_rate": round(totals.sent() / args.duration, 1), "answered": totals.answered(),
        "unexpected": sum(sum(o.values()) for o in [*unexpected.values(), *burst_unexpected.values()]),
        "unexpected_by_kind": unexpected, "max_burst_unexpected": burst_unexpected,
        "unexpected_samples": burst.samples + totals.samples, "lost_with_killed_worker": len(lost),
        "lost_errors": lost[:50],
        "kinds": {kind: {"expect": expect[kind], "outcomes": dict(totals.counts.get(kind, {})),
                         "p50_ms": percentiles(totals.latencies[kind])[0],
                         "p99_ms": percentiles(totals.latencies[kind])[1]} for kind in expect},
        "latency_ms": {"p50": p50, "p99": p99}, "schedule_lag_max_s": round(totals.lag_s, 3),
        "rss_mib": {"idle": round(watch.idle_rss, 1), "warm": warm, "end": end,
                    "max": max(m for _, m in watch.rss), "growth_pct": round((end - warm) / warm * 100, 2),
                    "samples": watch.rss},
        "readiness": {"polls": poller.polls, "slowest_ms": round(poller.slowest_s * 1000, 1),
                      "failures": [(round(t - started, 2), what) for t, what in failed],
                      "lost_with_killed_worker": [(round(t - started, 2), what) for t, what in lost_polls]},
    }


if __name__ == "__main__":
    raise SystemExit(main())
