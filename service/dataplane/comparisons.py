"""A rollout's comparisons: the other version of a canary or shadow computes the same images after
the response is sent, for the candidate's agreement figure. Comparisons are extra work, so at most
MAX_PENDING wait at once; more are skipped (and counted as skipped)."""

from __future__ import annotations

import asyncio

import numpy as np
from anyio import CapacityLimiter

from service.dataplane import offload
from service.metrics import Metrics
from service.models.registry import Route

MAX_PENDING = 4


class Comparisons:
    def __init__(self, limiter: CapacityLimiter, metrics: Metrics) -> None:
        self.limiter, self.metrics = limiter, metrics
        self.pending: set[asyncio.Task[None]] = set()  # strong references to the tasks

    def schedule(self, route: Route, pixels: np.ndarray, digits: np.ndarray) -> None:
        """If the route compares, have the other version compute `pixels` off the response path."""
        if route.compare is None or route.candidate is None:
            return
        candidate, other = route.candidate, route.compare
        if len(self.pending) >= MAX_PENDING:
            candidate.stats.skipped += 1
            return

        async def compare() -> None:
            seconds = other.forward_seconds(len(pixels))
            theirs = (await offload.run(self.limiter, seconds, lambda: other.predict(pixels))).digits
            agreed = int(np.count_nonzero(theirs == digits))
            candidate.stats.compared += len(digits)
            candidate.stats.agreed += agreed
            self.metrics.observe_comparison(candidate.name, candidate.version, len(digits), agreed)

        task = asyncio.get_running_loop().create_task(compare())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
