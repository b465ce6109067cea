"""service.dataplane.batcher, when a batch's forward pass fails: every request in it gets the
error, the error still says where it happened, and the requests' pixels are freed at once."""

from __future__ import annotations

import asyncio
import gc
import time
import traceback
import weakref

import numpy as np
import pytest
from anyio import CapacityLimiter

from service.dataplane.batcher import Batcher
from service.metrics import Metrics


class BrokenModel:
    """A loaded version whose forward pass fails, inline (short) or in the thread pool (long)."""

    name, version = "mnist-cnn", 1

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def forward_seconds(self, images: int) -> float:
        return self.seconds

    def predict(self, pixels: np.ndarray, threads: int | None = None) -> None:
        raise MemoryError("the forward pass could not allocate its activations")


def fail_together(seconds: float, requests: list[np.ndarray]) -> list[tuple[str, list[str]]]:
    """Each request's error as a handler sees it: its message and the frames of its traceback."""
    batcher = Batcher(BrokenModel(seconds), 64, 0.0, CapacityLimiter(1), Metrics())  # type: ignore[arg-type]

    async def one(pixels: np.ndarray) -> tuple[str, list[str]]:
        try:
            await batcher.predict(pixels)
        except MemoryError as error:  # answered, as a handler answers it, then dropped
            return str(error), [frame.name for frame in traceback.extract_tb(error.__traceback__)]
        raise AssertionError("the batch did not fail")

    async def main() -> list[tuple[str, list[str]]]:
        return list(await asyncio.gather(*(one(p) for p in requests)))

    return asyncio.run(main())


@pytest.mark.parametrize("seconds", [0.0, 1.0], ids=["inline", "thread pool"])
def test_a_failed_batch_frees_its_requests_pixels_without_waiting_for_the_collector(seconds: float) -> None:
    """The error, kept by each request's future, must not keep the batch: a burst of failures
    would otherwise pile up every request's images until the next full collection."""
    requests = [np.zeros((1, 784), np.float32) for _ in range(3)]
    freed = [weakref.ref(pixels) for pixels in requests]
    gc.disable()  # only reference counting may free them
    try:
        errors = fail_together(seconds, requests)
        assert len(errors) == 3
        del requests, errors
        deadline = time.monotonic() + 2
        while any(ref() is not None for ref in freed) and time.monotonic() < deadline:
            time.sleep(0.01)  # the pool's thread lets go of the work a moment after handing back its error
        assert [ref() is None for ref in freed] == [True, True, True]
    finally:
        gc.enable()


def test_every_request_of_a_failed_batch_gets_the_error_with_where_it_happened() -> None:
    errors = fail_together(1.0, [np.zeros((1, 784), np.float32) for _ in range(2)])
    assert len(errors) == 2
    for message, frames in errors:
        assert "could not allocate" in message
        assert frames[-1] == "predict"  # where the forward pass failed, for the log of the 500

