"""Where a request's work runs: on the event loop when it is short, in the thread pool when not.

A hop to the thread pool and back costs about as much as the whole forward pass of one image
(30-400 us), so short work runs inline: the loop is then blocked for at most `INLINE_SECONDS`.
Anything expected to take longer (large bodies, big batches, image files) goes to the thread pool,
so the loop keeps answering other requests, health probes among them, meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")
P = TypeVar("P")

INLINE_SECONDS = 0.001
# Parsing cost per body byte, from benchmarks/bench_parsing.py (a 256-image /v1 body of ~700 KB
# parses in 6-20 ms): an over-estimate, so that only bodies of a few images parse inline.
PARSE_SECONDS_PER_BYTE = 3e-8


def parse_seconds(body: bytes) -> float:
    """The expected cost of decoding `body` into pixels."""
    return len(body) * PARSE_SECONDS_PER_BYTE


async def run(seconds: float, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)`, inline if it is expected to take at most INLINE_SECONDS, else in the thread pool."""
    if seconds <= INLINE_SECONDS:
        return fn(*args)
    return await run_in_threadpool(fn, *args)


async def parse_then_run(parse: Callable[[], P], parse_seconds: float, work: Callable[[P], T],
                         work_seconds: Callable[[P], float]) -> T:
    """`work(parse())`. A long parse (a large body) and the work after it share one thread-pool
    hop; after a short parse the work runs inline or in the pool by its own expected cost."""
    if parse_seconds > INLINE_SECONDS:
        return await run_in_threadpool(lambda: work(parse()))
    parsed = parse()
    return await run(work_seconds(parsed), work, parsed)
