"""Peak memory of a real `mnist-serve` under the largest requests its default settings allow.

    python benchmarks/bench_worst_case.py --model mnist-cnn --concurrent 16

One server (one worker). For each case of testkit/worst_cases.py (the largest image of each PNG
and JPEG mode, the largest JSON, batch, v2 JSON and binary bodies, bodies past the limits,
compressed ones) it resets the peak resident size (`5` into /proc/<pid>/clear_refs), sends
--concurrent copies at once, and prints their statuses, the slowest answer and the peak resident
size (VmHWM), and the 99th percentile of /health/live polled meanwhile (a liveness probe must
not wait behind the work). Linux only. The deployment files' memory limits are sized from these
figures.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from testkit.proc import reset_peak, status_mib  # noqa: E402
from testkit.server import running_server  # noqa: E402
from testkit.worst_cases import Case, all_cases  # noqa: E402


def burst(base_url: str, case: Case, count: int) -> tuple[Counter[int], float, float]:
    """Send `count` copies of the case at once: their statuses, the slowest one's seconds, and the
    99th percentile in ms of /health/live polled (every 10 ms) until they are all answered."""
    done = threading.Event()

    def send(_: int) -> tuple[int, float]:
        started = time.perf_counter()
        answer = httpx.post(base_url + case.path, content=case.body, headers=case.headers, timeout=120)
        return answer.status_code, time.perf_counter() - started

    def probe() -> list[float]:
        seconds = []
        with httpx.Client(base_url=base_url, timeout=10) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get("/health/live").raise_for_status()
                seconds.append(time.perf_counter() - started)
                time.sleep(0.01)
        return seconds

    with ThreadPoolExecutor(count + 1) as pool:
        probes = pool.submit(probe)
        results = list(pool.map(send, range(count)))
        done.set()
        health = float(np.percentile(probes.result(), 99)) * 1000
    return Counter(status for status, _ in results), max(seconds for _, seconds in results), health


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-cnn")
    parser.add_argument("--concurrent", type=int, default=16, help="copies of each case sent at once")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    args = parser.parse_args()
    cases = [case for case in all_cases() if args.only in case.name]
    worst = 0.0
    with running_server("--model", args.model, "--workers", "1", "--log-level", "warning",
                        env={"MNIST_ACCESS_LOG": "false"}) as server:
        pid = server.process.pid
        print(f"{args.model}, {args.concurrent} requests at once; idle RSS "
              f"{status_mib(pid, 'VmRSS'):.0f} MiB\n")
        print("| case | body KiB | statuses | slowest s | /health/live p99 ms | RSS before MiB | "
              "peak RSS MiB |\n| --- | ---: | --- | ---: | ---: | ---: | ---: |")
        for case in cases:
            reset_peak(pid)
            before = status_mib(pid, "VmRSS")
            statuses, slowest, health = burst(server.base_url, case, args.concurrent)
            peak = status_mib(pid, "VmHWM")
            worst = max(worst, peak)
            flag = "" if set(statuses) <= set(case.statuses) else f" (expected {case.statuses})"
            shown = ", ".join(f"{n}x {s}" for s, n in sorted(statuses.items()))
            print(f"| {case.name} | {len(case.body) / 1024:.0f} | {shown}{flag} | {slowest:.2f} | "
                  f"{health:.1f} | {before:.0f} | {peak:.0f} |", flush=True)
    print(f"\nhighest peak: {worst:.0f} MiB")


if __name__ == "__main__":
    main()
