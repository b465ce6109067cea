"""wrk, the HTTP load generator, as the peers benchmark drives it: `run_wrk` writes a Lua script
(`WRK_LUA`) that POSTs one fixed body with fixed headers, runs `wrk --latency` against a URL and reads
its output with `parse_wrk` into a `WrkResult` (requests, seconds, req/s, p50 and p99 in ms, non-2xx
answers and socket errors), converting the time units wrk prints (us, ms, s, m, h)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

WRK_LUA = """
wrk.method = "POST"
{headers}
local f = assert(io.open([==[{body_path}]==], "rb"))
wrk.body = f:read("*a")
f:close()
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int  # completed, any status
    seconds: float
    rps: float  # wrk's Requests/sec (any status)
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    @property
    def ok_rps(self) -> float:
        """Successful (2xx) requests per second."""
        return (self.requests - self.non2xx) / self.seconds if self.seconds > 0 else 0.0


_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS_MS[unit]


def parse_wrk(text: str) -> WrkResult:
    """req/s, p50 and p99 (from `--latency`'s distribution), non-2xx and socket errors of wrk's output."""
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.MULTILINE)
    pcts = {int(p): _ms(v, u) for p, v, u in
            re.findall(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)}
    if total is None or rps is None or set(pcts) != {50, 99}:
        raise ValueError(f"not wrk --latency output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(requests=int(total.group(1)), seconds=float(total.group(2)) * _SECONDS[total.group(3)],
                     rps=float(rps.group(1)), p50_ms=pcts[50], p99_ms=pcts[99],
                     non2xx=int(non2xx.group(1)) if non2xx else 0,
                     socket_errors=sum(int(g) for g in sock.groups()) if sock else 0)


def run_wrk(url: str, body: bytes, headers: dict[str, str], duration: float, connections: int,
            threads: int) -> WrkResult:
    with tempfile.TemporaryDirectory(prefix="peers-wrk-") as tmp:
        body_path = Path(tmp) / "body.bin"
        body_path.write_bytes(body)
        script = Path(tmp) / "post.lua"
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        script.write_text(WRK_LUA.format(headers=lines, body_path=body_path))
        cmd = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration:g}s", "--latency",
               "--timeout", "10s", "-s", str(script), url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    return parse_wrk(out.stdout)
