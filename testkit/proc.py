"""A process's memory as Linux reports it in /proc: what the memory benchmarks and tests read."""

from __future__ import annotations

import time
from pathlib import Path


def status_mib(pid: int, key: str) -> float:
    """A size field of /proc/<pid>/status in MiB: VmRSS (resident now), VmHWM (peak resident)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(f"no {key} in /proc/{pid}/status")


def settle(pid: int, timeout: float = 5.0) -> float:
    """VmRSS once it has stopped falling: a server answers before its handlers have dropped what the
    request allocated, so the memory of the requests just answered leaves a moment later."""
    deadline = time.monotonic() + timeout
    last = status_mib(pid, "VmRSS")
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = status_mib(pid, "VmRSS")
        if now > last - 1:  # less than 1 MiB freed in 100 ms: settled
            return now
        last = now
    return last


def reset_peak(pid: int) -> None:
    """Set VmHWM back to the current VmRSS (Linux >= 4.0) once it has settled, so what follows gets
    its own peak, not the tail of what came before."""
    settle(pid)
    Path(f"/proc/{pid}/clear_refs").write_text("5")
