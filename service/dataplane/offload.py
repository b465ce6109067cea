"""Where a request's work runs: on the event loop when it is short, in the thread pool when not.

A hop to the thread pool and back costs about as much as the whole forward pass of one image
(30-400 us), so short work runs inline: the loop is then blocked for at most `INLINE_SECONDS`.
A longer forward pass (big batches; NumPy's matrix products release the GIL) and image decoding go
to the thread pool, so the loop keeps answering other requests, health probes among them,
meanwhile. Parsing is the exception: it runs inline up to `PARSE_INLINE_SECONDS` (see there).

Work in the pool takes a token of the app's `work_limiter` (MNIST_WORK_THREADS): requests beyond
it wait for a token holding only their body, so the memory that parsing, decoding and the forward
pass take is bounded by the tokens, however many requests are in flight.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import TypeVar

from anyio import CapacityLimiter, to_thread

T = TypeVar("T")
P = TypeVar("P")

INLINE_SECONDS = 0.001
# Parsing holds the GIL for most of its time (bytes and small NumPy passes), so a thread gains it
# no parallelism, only hand-offs with the loop: measured with 256-image bodies, 6.4 ms of CPU per
# request parsed in the pool against 4.3 ms inline. A parse runs inline up to this expected cost.
PARSE_INLINE_SECONDS = 0.005
# Parsing cost per body byte on the integer fast paths (benchmarks/bench_parsing.py: a 256-image
# body of ~470 KB in ~1.5 ms); bodies of floats take the exact path, several times slower.
PARSE_SECONDS_PER_BYTE = 4e-9


def parse_seconds(body: bytes) -> float:
    """The expected cost of decoding `body` into pixels."""
    return len(body) * PARSE_SECONDS_PER_BYTE


async def in_pool(limiter: CapacityLimiter, fn: Callable[[], T]) -> T:
    """`fn()` in the thread pool, once one of the limiter's tokens is free."""
    try:
        return await to_thread.run_sync(fn, limiter=limiter)
    except BaseException as error:
        # An error raised in the pool comes back through anyio's finished frame, which holds the
        # future holding the error: a cycle through every frame of the traceback, the request's
        # body among their locals, freed only by a full collection. Dropping the finished frames'
        # locals (the traceback's lines stay) frees the body as soon as the error is answered.
        traceback.clear_frames(error.__traceback__)
        raise


async def run(limiter: CapacityLimiter, seconds: float, fn: Callable[[], T]) -> T:
    """`fn()`, inline if it is expected to take at most INLINE_SECONDS, else in the thread pool."""
    if seconds <= INLINE_SECONDS:
        return fn()
    return await in_pool(limiter, fn)


async def parse_then_run(limiter: CapacityLimiter, parse: Callable[[], P], parse_seconds: float,
                         work: Callable[[P], T], work_seconds: Callable[[P], float]) -> T:
    """`work(parse())`. A long parse (a very large body) and the work after it share one thread-pool
    hop; after a parse inline the work runs inline or in the pool by its own expected cost."""
    if parse_seconds > PARSE_INLINE_SECONDS:
        return await in_pool(limiter, lambda: work(parse()))
    parsed = parse()
    return await run(limiter, work_seconds(parsed), lambda: work(parsed))

ALWAYS_POOLED = float("inf")  # the expected cost given for work that never runs inline (image decoding)
