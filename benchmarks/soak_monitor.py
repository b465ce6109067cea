"""What benchmarks/soak.py watches besides the answers: the server's processes and their memory
(Linux /proc), and readiness polled the way a Kubernetes probe does it."""

from __future__ import annotations

import http.client
import os
import threading
import time
from pathlib import Path

PROC = Path("/proc")
Failure = tuple[float, str]  # (sent: monotonic, what happened)
KILL_DELIVERY_S = 0.05  # a connection opened this soon after SIGKILL may still be accepted by the worker


def _ppid(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:  # gone meanwhile
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # after "(comm)", which may hold spaces: state, ppid


def descendants(root: int) -> list[int]:
    """`root` and every process below it (uvicorn's workers, multiprocessing's resource tracker)."""
    parents = {int(p.name): _ppid(int(p.name)) for p in PROC.iterdir() if p.name.isdigit()}
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += frontier
    return tree


def workers(root: int) -> list[int]:
    """uvicorn's worker processes under the supervisor `root` (multiprocessing spawn children)."""
    found = []
    for pid in descendants(root)[1:]:
        try:
            cmdline = (PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline and _ppid(pid) == root:
            found.append(pid)
    return sorted(found)


def rss_mib(pids: list[int]) -> float:
    """Sum of VmRSS over `pids` (those still alive)."""
    total_kb = 0
    for pid in pids:
        try:
            lines = (PROC / str(pid) / "status").read_text().splitlines()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)
    return total_kb / 1024


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of `pid` so far (None if it is gone)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


class ReadinessPoller(threading.Thread):
    """GET /health/ready every `interval` s on a new connection each time, as a kubelet probe does
    (a kept-alive connection would test one worker only); records every answer that is not 200."""

    def __init__(self, host: str, port: int, interval: float = 0.1, timeout: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.interval, self.timeout = host, port, interval, timeout
        self.polls = 0
        self.failures: list[tuple[float, float, str]] = []  # (sent, ended: monotonic, what happened)
        self.slowest_s = 0.0
        self._halt = threading.Event()

    def poll_once(self) -> str | None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("GET", "/health/ready")
            response = connection.getresponse()
            response.read()
            return None if response.status == 200 else f"status {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    def run(self) -> None:
        while not self._halt.is_set():
            started = time.monotonic()
            problem = self.poll_once()
            ended = time.monotonic()
            self.slowest_s = max(self.slowest_s, ended - started)
            self.polls += 1
            if problem is not None:
                self.failures.append((started, ended, problem))
            self._halt.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def split_failures(self, kill_at: float | None) -> tuple[list[Failure], list[Failure]]:
        """(failed polls, polls lost with a killed worker), each as (sent, what): a poll whose
        connection the killed worker had accepted (sent before the kill, ended after it, no answer)
        is lost with it, as a request in flight is; a kubelet's failureThreshold absorbs one."""
        failed: list[Failure] = []
        lost: list[Failure] = []
        for sent, ended, what in self.failures:
            with_worker = (kill_at is not None and sent <= kill_at + KILL_DELIVERY_S and ended >= kill_at
                           and not what.startswith("status"))
            (lost if with_worker else failed).append((sent, what))
        return failed, lost

    def stop(self) -> None:
        self._halt.set()
        self.join()
