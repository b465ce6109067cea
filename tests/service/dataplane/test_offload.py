"""service.dataplane.offload: work handed to the thread pool, and what its errors leave behind."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

import pytest
from anyio import CapacityLimiter

from service.dataplane import offload
from service.errors import ServiceError


class Body:
    """Stands for a request's body: only a weak reference to it is kept."""


def test_an_error_from_the_pool_frees_the_request_without_waiting_for_the_collector() -> None:
    """A refused 8 MiB body must leave memory when its error is answered: a burst of them otherwise
    piles up until the next full collection."""

    def parse(body: Body) -> None:
        raise ServiceError(415, "body must be application/json")

    async def handle(body: Body) -> int:
        try:
            await offload.in_pool(CapacityLimiter(1), lambda: parse(body))
        except ServiceError as error:
            return error.status
        return 200

    body = Body()
    freed = weakref.ref(body)
    gc.disable()  # only reference counting may free it
    try:
        assert asyncio.run(handle(body)) == 415
        del body
        deadline = time.monotonic() + 2
        while freed() is not None and time.monotonic() < deadline:
            time.sleep(0.01)  # the pool's thread lets go of the work a moment after handing back its error
        assert freed() is None
    finally:
        gc.enable()


def test_work_in_the_pool_answers_and_its_errors_keep_their_traceback() -> None:
    def parse() -> None:
        raise ValueError("a bug, to be logged with where it happened")

    async def main() -> None:
        assert await offload.in_pool(CapacityLimiter(1), lambda: 42) == 42
        with pytest.raises(ValueError) as caught:
            await offload.in_pool(CapacityLimiter(1), parse)
        assert "parse" in [frame.name for frame in caught.traceback]

    asyncio.run(main())
