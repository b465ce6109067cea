"""Adaptive batching: concurrent requests for one loaded version, gathered into one forward pass.

    a request arrives   -> queued; if no batch of this version is running, one starts at once
                           (after MNIST_BATCH_MAX_DELAY_MS, 0 by default: a lone request never waits)
    a batch runs        -> in the thread pool, so the event loop keeps reading requests meanwhile;
                           they queue up and start together as the next batch, up to max_size images
                           (a pass short enough to run inline, as a lone image's, runs on the loop)
    a batch finishes    -> each request gets its rows; the next batch starts with what queued

So the batch size follows the load: one image at a time when requests come one at a time, many
when they pile up behind a running batch. A request's answer is bit for bit what it would get
alone: a conv network's forward pass is row-independent as served (neuralnet/layers/dense.py,
neuralnet/inference.py). A batcher holds one version, so a canary's and a shadow's requests are
only ever batched with their own version's. A request whose client has gone while it waited is
dropped before its batch starts; requests of max_size images or more, and those whose decoding
runs in the thread pool (image files, very large bodies), are not batched (the data plane runs
them as they are).
"""

from __future__ import annotations

import asyncio
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
from anyio import CapacityLimiter

from service.dataplane import offload
from service.metrics import Metrics
from service.models.loaded_model import LoadedModel, Predictions

Gone = Callable[[], Awaitable[bool]]  # whether the request's client has hung up
Answer = tuple[Predictions, float, float]  # a request's rows, its wait for the batch, the batch's pass


# Asking whether a client has gone costs about what a dense network's forward pass of its image
# does (Starlette's is_disconnected runs a cancelled receive), so only a request that has waited
# for an earlier batch (or the delay) is asked: one that arrived just now is computed anyway.
GONE_CHECK_SECONDS = 0.001


class ClientGone(Exception):
    """The request was dropped from its batch: its client hung up before the batch started."""


@dataclass
class Pending:
    pixels: np.ndarray
    future: asyncio.Future[Answer]
    gone: Gone | None
    queued_at: float = field(default_factory=time.perf_counter)


def rows(answered: Predictions, part: slice) -> Predictions:
    return Predictions(answered.digits[part], answered.proba[part],
                       None if answered.scores is None else answered.scores[part],
                       None if answered.is_digit is None else answered.is_digit[part])


def batch_threads(configured: int | None, workers: int) -> int:
    """Threads a batch's chunks run on: MNIST_BATCH_THREADS, else this worker's share of the cores
    it may run on. More than that and the workers' batches would only take turns on the same cores."""
    if configured is not None:
        return configured
    return max(1, len(os.sched_getaffinity(0)) // workers)


class Batcher:
    def __init__(self, model: LoadedModel, max_size: int, max_delay: float, limiter: CapacityLimiter,
                 metrics: Metrics, threads: int = 1) -> None:
        self.model, self.max_size, self.max_delay, self.threads = model, max_size, max_delay, threads
        self.limiter, self.metrics = limiter, metrics
        self.queue: list[Pending] = []
        self.running: asyncio.Task[None] | None = None

    async def predict(self, pixels: np.ndarray, gone: Gone | None = None) -> Answer:
        """The version's predictions for `pixels`, computed with whatever requests queue with it;
        and the seconds it waited for its batch to start, and the batch's forward pass took."""
        # the future is awaited, never kept in a local: a failed batch's error holds this frame
        return await self._queued(pixels, gone)

    def _queued(self, pixels: np.ndarray, gone: Gone | None) -> asyncio.Future[Answer]:
        item = Pending(pixels, asyncio.get_running_loop().create_future(), gone)
        self.queue.append(item)
        if self.running is None:
            self.running = asyncio.get_running_loop().create_task(self._run())
        return item.future

    async def _run(self) -> None:
        """Batches, one after another, while requests are queued."""
        try:
            if self.max_delay > 0:
                await asyncio.sleep(self.max_delay)
            while self.queue:
                batch = await self._take()
                if batch:
                    await self._execute(batch)
        finally:
            self.running = None

    async def _take(self) -> list[Pending]:
        """The next batch: queued requests in order, up to max_size images, less those whose
        client has gone (or that were cancelled)."""
        batch: list[Pending] = []
        images, now = 0, time.perf_counter()
        while self.queue and (not batch or images + len(self.queue[0].pixels) <= self.max_size):
            item = self.queue.pop(0)
            if item.future.done():
                continue
            if item.gone is not None and now - item.queued_at >= GONE_CHECK_SECONDS and await item.gone():
                item.future.set_exception(ClientGone())
                continue
            batch.append(item)
            images += len(item.pixels)
        return batch

    async def _execute(self, batch: list[Pending]) -> None:
        pixels = batch[0].pixels if len(batch) == 1 else np.concatenate([i.pixels for i in batch])
        started = time.perf_counter()
        try:
            # a short pass (a lone image) inline, as unbatched: the hop would cost as much as it
            answered = await offload.run(self.limiter, self.model.forward_seconds(len(pixels)),
                                         lambda: self.model.predict(pixels, self.threads))
        except Exception as exc:  # every request of the batch gets the failure, none hangs
            # The error's traceback starts at this frame, which holds the batch, whose futures will
            # hold the error: a cycle that keeps every request's pixels until a full collection.
            # Starting the traceback below this frame, with the finished frames' locals dropped,
            # frees them with the last request's answer.
            traceback.clear_frames(exc.__traceback__)
            exc.__traceback__ = exc.__traceback__.tb_next if exc.__traceback__ else None
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        seconds = time.perf_counter() - started
        self.metrics.observe_batch(self.model.name, self.model.version, len(pixels),
                                   [started - item.queued_at for item in batch])
        at = 0
        for item in batch:
            part = slice(at, at + len(item.pixels))
            at = part.stop
            if not item.future.done():
                mine = answered if len(batch) == 1 else rows(answered, part)
                item.future.set_result((mine, started - item.queued_at, seconds))
