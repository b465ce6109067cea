"""Over-long request heads against a real `mnist-serve`: how fast one is refused, how much of it the
server read, and what 16 such clients at once do to a health probe and to memory.

    python benchmarks/bench_headers.py [--header-mib 64] [--clients 16] [--seconds 10]

1. One client streams `GET /health/live` with an X-Big header of --header-mib MiB of `a`: the time
   to its answer, its status, the bytes the client got into the connection (an upper bound) and the
   bytes the server process read from sockets (/proc/<pid>/io `rchar`).
2. --clients clients do the same over and over (each reconnects as soon as it is refused: far
   more heads than 16 clients streaming one each) for --seconds while another client probes
   `/health/live` every 20 ms on a connection of its own: the probe's latency (p50, p99, max) and
   the server's resident memory before and at its peak (VmRSS, VmHWM). Linux only.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from testkit.huge_heads import stream_long_head  # noqa: E402
from testkit.proc import reset_peak, status_mib  # noqa: E402
from testkit.server import running_server  # noqa: E402


def bytes_read(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise KeyError("rchar")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--header-mib", type=int, default=64)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--model", default="mnist-mlp")
    parser.add_argument("--attack-nice", type=int, default=0, help="niceness of the attacking process "
                        "(on a machine of few cores, the attackers otherwise take the server's CPU)")
    args = parser.parse_args()
    size = args.header_mib * 1024 * 1024
    with running_server("--model", args.model, "--log-level", "warning",
                        env={"MNIST_ACCESS_LOG": "false"}) as server:
        pid = server.process.pid
        httpx.get(f"{server.base_url}/health/live")  # the first request's one-off costs
        before = bytes_read(pid)
        one = stream_long_head(server.port, size)
        read = bytes_read(pid) - before
        print(f"one {args.header_mib} MiB header: status {one.status} in {one.seconds * 1000:.0f} ms; "
              f"client sent {one.sent / 1024:.0f} KiB; server read {read / 1024:.0f} KiB")

        quiet = probe_latencies(server.base_url, args.seconds / 2)
        print(f"no attack: /health/live {summary(quiet)}")
        rss_before = status_mib(pid, "VmRSS")
        reset_peak(pid)
        # the attackers run in a process of their own: their threads would hold this one's GIL
        with ProcessPoolExecutor(1) as pool:
            attack = pool.submit(attack_for, server.port, size, args.clients, args.seconds, args.attack_nice)
            time.sleep(0.5)  # the attack under way
            latencies = probe_latencies(server.base_url, args.seconds - 1)
            statuses = attack.result()
        peak = status_mib(pid, "VmHWM")
        print(f"{args.clients} clients for {args.seconds:g} s: heads answered {statuses}; "
              f"/health/live {summary(latencies)}; RSS {rss_before:.0f} MiB before, "
              f"peak {peak:.0f} MiB (+{peak - rss_before:.0f})")


def attack_for(port: int, size: int, clients: int, seconds: float, niceness: int) -> dict[int | None, int]:
    """`clients` threads sending over-long heads, one after another, for `seconds`: status counts."""
    os.nice(niceness)
    stop = threading.Event()
    answered: list[int | None] = []

    def attacker() -> None:
        while not stop.is_set():
            answered.append(stream_long_head(port, size, timeout=seconds + 10).status)

    threads = [threading.Thread(target=attacker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return {s: answered.count(s) for s in set(answered)}


def probe_latencies(base_url: str, seconds: float) -> np.ndarray:
    """Milliseconds of each `/health/live`, one every 20 ms for `seconds`, on one connection."""
    latencies = []
    with httpx.Client(base_url=base_url, timeout=30) as probe:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            assert probe.get("/health/live").status_code == 200
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    return np.array(latencies)


def summary(ms: np.ndarray) -> str:
    return (f"x{len(ms)}: p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms, "
            f"max {ms.max():.1f} ms")


if __name__ == "__main__":
    main()
