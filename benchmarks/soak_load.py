"""The load generator of benchmarks/soak.py: one process, asyncio + httpx, `connections` keep-alive
connections, the mix of soak_mix.py, paced to a rate or as fast as it goes.

It runs in its own process (soak.py starts one or more) so the monitor that polls readiness and
reads memory never waits behind the load on one event loop. Each second it puts what it saw on a
queue: counts by kind and outcome, latencies, and every transport error with its start and end time
(time.monotonic(): one clock for every process on Linux), so soak.py can tell the requests in flight
when a worker was killed from failures that no kill explains.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from soak_mix import Kind, build_mix, schedule
from soak_raw import Connection, ProtocolError

REQUEST_TIMEOUT = 30.0  # a request still unanswered after this long is a failure (httpx.ReadTimeout)
REPORT_EVERY = 1.0  # seconds between the windows sent to soak.py
SAMPLES_PER_WINDOW = 5  # unexpected answers quoted per window (the counts hold all of them)
WRONG_ANSWER = "wrong-answer"  # the outcome of the expected status with an answer that fails its check
KILL_SLACK = 0.5  # a request sent this soon after a kill may still go out on the dead worker's connection


class Window:
    """What this process saw since its last report (plain dicts and lists: it is pickled)."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.latencies_ms: dict[str, list[float]] = defaultdict(list)
        self.transport: list[tuple[str, str, float, float]] = []  # kind, exception, start, end
        self.samples: list[str] = []
        self.lag_s = 0.0  # worst lateness of a send against the schedule
        self.measured = 0  # requests completed after `measure_from` (closed-loop max only)

    def message(self) -> dict[str, Any]:
        return {"counts": {k: dict(v) for k, v in self.counts.items()},
                "latencies_ms": dict(self.latencies_ms), "transport": self.transport,
                "samples": self.samples, "lag_s": self.lag_s, "measured": self.measured}


class Totals:
    """The windows of every load process, merged (in soak.py's process)."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.recent: list[float] = []  # latencies since the last progress line
        self.transport: list[tuple[str, str, float, float]] = []
        self.samples: list[str] = []
        self.lag_s = 0.0
        self.measured = 0

    def add(self, message: dict[str, Any]) -> None:
        for kind, outcomes in message["counts"].items():
            for key, n in outcomes.items():
                self.counts[kind][key] += n
        for kind, values in message["latencies_ms"].items():
            self.latencies[kind] += values
            self.recent += values
        self.transport += message["transport"]
        self.samples += message["samples"][:max(0, 50 - len(self.samples))]
        self.lag_s = max(self.lag_s, message["lag_s"])
        self.measured += message["measured"]

    def sent(self) -> int:
        return sum(sum(outcomes.values()) for outcomes in self.counts.values())

    def answered(self) -> int:
        return sum(len(values) for values in self.latencies.values())


def classify(totals: Totals, expect: dict[str, int],
             kill_at: float | None) -> tuple[dict[str, dict[str, int]], list[str]]:
    """({kind: {outcome: n}} of unexpected outcomes, requests lost with the killed worker): a transport
    error is lost with the worker when the request was in flight at the kill (sent before it, up to
    KILL_SLACK after, and ended after it); anything else but the expected status is unexpected."""
    unexpected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for kind, outcomes in totals.counts.items():
        for key, n in outcomes.items():
            if key != str(expect[kind]) and (key.isdigit() or key == WRONG_ANSWER):
                unexpected[kind][key] += n
    lost: list[str] = []
    for kind, error, sent, ended in totals.transport:
        if kill_at is not None and sent <= kill_at + KILL_SLACK and ended >= kill_at:
            lost.append(f"{kind}: {error} (sent {sent - kill_at:+.3f} s from the kill)")
        else:
            unexpected[kind][error.split(":")[0]] += 1
    return {k: dict(v) for k, v in unexpected.items()}, lost


class Answer(Protocol):  # an httpx.Response or a soak_raw.Response
    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    @property
    def headers(self) -> Any: ...


@dataclass(frozen=True)
class LoadSpec:
    """What one load process does (pickled to it)."""
    base_url: str
    model: str
    rate: float | None  # requests/s of this process; None: as fast as the connections go
    start_at: float  # monotonic
    seconds: float
    connections: int
    seed: int
    client: str  # "raw" (soak_raw.py) or "httpx"
    measure_from: float = 0.0  # monotonic; `measured` counts the requests completed after it


# What a failed exchange raises, besides an answer: connection refused or reset, timeout, unreadable
RAW_ERRORS = (OSError, EOFError, asyncio.LimitOverrunError, ProtocolError)  # EOFError: IncompleteReadError


def outcome(kind: Kind, response: Answer) -> tuple[str, str | None]:
    """(the outcome counted: the status, or WRONG_ANSWER; a description if it is unexpected)."""
    status = str(response.status_code)
    if response.status_code != kind.expect:
        return status, f"{kind.name}: status {status}, expected {kind.expect}: {response.content[:200]!r}"
    try:
        problem = kind.check(response.content, response.headers)
    except (ValueError, KeyError, TypeError, IndexError) as exc:  # an answer that does not parse
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        return status, None
    return WRONG_ANSWER, f"{kind.name}: {problem}"


async def _run(spec: LoadSpec, queue: Queue[Any]) -> None:
    cycle = schedule(build_mix(spec.model), spec.seed)
    rate, slots, window = spec.rate, itertools.count(), Window()
    start_at = stop_at = 0.0  # set once the client is up

    async def report() -> None:
        nonlocal window
        while True:
            await asyncio.sleep(REPORT_EVERY)
            window, done = Window(), window
            queue.put(("window", done.message()))

    async def connection(client: httpx.AsyncClient) -> None:
        url = urlsplit(spec.base_url)
        raw = Connection(url.hostname or "127.0.0.1", url.port or 80, REQUEST_TIMEOUT)
        while True:
            slot = next(slots)
            kind = cycle[slot % len(cycle)]
            now = time.monotonic()
            if rate is not None:  # open loop: slot i is due at start + i / rate, whatever came back
                due = start_at + slot / rate
                if due >= stop_at:
                    break
                if due > now:
                    await asyncio.sleep(due - now)
                else:
                    window.lag_s = max(window.lag_s, now - due)
            elif now >= stop_at:
                break
            sent = time.monotonic()
            try:
                response: Answer
                if spec.client == "raw":
                    response = await raw.post(kind.path, kind.body, kind.headers)
                else:
                    response = await client.post(kind.path, content=kind.body, headers=kind.headers)
            except (httpx.TransportError, *RAW_ERRORS) as exc:
                window.counts[kind.name][type(exc).__name__] += 1
                window.transport.append((kind.name, f"{type(exc).__name__}: {exc}", sent, time.monotonic()))
                continue
            ended = time.monotonic()
            key, problem = outcome(kind, response)
            window.counts[kind.name][key] += 1
            window.latencies_ms[kind.name].append((ended - sent) * 1000)
            window.measured += ended >= spec.measure_from
            if problem is not None and len(window.samples) < SAMPLES_PER_WINDOW:
                window.samples.append(problem)
        raw.close()

    limits = httpx.Limits(max_connections=spec.connections, max_keepalive_connections=spec.connections)
    async with httpx.AsyncClient(base_url=spec.base_url, limits=limits, timeout=REQUEST_TIMEOUT,
                                 trust_env=False) as client:
        # A process that came up late starts now rather than bursting through the slots it missed.
        await asyncio.sleep(max(0.0, spec.start_at - time.monotonic()))
        start_at = max(spec.start_at, time.monotonic())
        stop_at = start_at + spec.seconds
        reporter = asyncio.create_task(report())
        await asyncio.gather(*(connection(client) for _ in range(spec.connections)))
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
    queue.put(("window", window.message()))
    queue.put(("done", None))


def run_client(spec: LoadSpec, queue: Queue[Any]) -> None:
    """Send the mix from `spec.start_at` for `spec.seconds`, paced or not; then wait for the answers
    still in flight and report "done"."""
    try:
        import uvloop  # the service's own dependency: less client CPU per request than asyncio's loop
    except ImportError:
        asyncio.run(_run(spec, queue))
    else:
        uvloop.run(_run(spec, queue))
