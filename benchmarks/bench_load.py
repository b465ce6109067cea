"""The load generators of benchmarks/bench_service.py: `wrk` with a Lua script that reports
percentiles as JSON, or an asyncio httpx client where wrk is not installed."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

MAX_REQUESTS = 10_000_000  # per scenario: a second bound besides the duration
WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open([==[{body_path}]==], "rb"))
wrk.body = f:read("*a")
f:close()

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, \\"non2xx\\": %d, " ..
    "\\"p50\\": %.1f, \\"p95\\": %.1f, \\"p99\\": %.1f}}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def run_wrk(url: str, body: bytes, duration: int, connections: int, threads: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        body_path = Path(tmp) / "body.json"
        body_path.write_bytes(body)
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_LUA.format(body_path=body_path))
        cmd = ["wrk", "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{duration}s",
               "--timeout", "10s", "-s", str(script), url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30, check=False)
    match = re.search(r"^BENCH_JSON (\{.*\})$", out.stdout, re.MULTILINE)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    r = json.loads(match.group(1))
    return Result(requests=r["requests"] - r["non2xx"], seconds=r["duration_us"] / 1e6,
                  errors=r["errors"] + r["non2xx"], p50_ms=r["p50"] / 1000, p95_ms=r["p95"] / 1000,
                  p99_ms=r["p99"] / 1000)


async def _httpx_load(url: str, body: bytes, duration: float, connections: int) -> Result:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    attempts = errors = 0
    async with httpx.AsyncClient(limits=limits, timeout=10, trust_env=False,
                                 headers={"content-type": "application/json"}) as client:
        start = time.perf_counter()
        deadline = start + duration

        async def connection() -> None:
            nonlocal attempts, errors
            while time.perf_counter() < deadline and attempts < MAX_REQUESTS:
                attempts += 1
                sent = time.perf_counter()
                try:
                    response = await client.post(url, content=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1

        await asyncio.gather(*(connection() for _ in range(connections)))
        seconds = time.perf_counter() - start
    p50, p95, p99 = (np.percentile(latencies, [50, 95, 99]) * 1000).tolist() if latencies else [0.0] * 3
    return Result(requests=len(latencies), seconds=seconds, errors=errors, p50_ms=p50, p95_ms=p95, p99_ms=p99)


def run_httpx(url: str, body: bytes, duration: int, connections: int, threads: int) -> Result:
    return asyncio.run(_httpx_load(url, body, duration, connections))


Load = Callable[[str, bytes, int, int, int], Result]
