"""A process's memory as Linux reports it in /proc: what the memory benchmarks and tests read."""

from __future__ import annotations

from pathlib import Path


def status_mib(pid: int, key: str) -> float:
    """A size field of /proc/<pid>/status in MiB: VmRSS (resident now), VmHWM (peak resident)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(f"no {key} in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    """Set VmHWM back to the current VmRSS (Linux >= 4.0), so what follows gets its own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
