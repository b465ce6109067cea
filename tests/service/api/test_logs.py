"""The JSON log lines: access lines are written together, soon, and in order with every other line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from service.api.logs import ACCESS_FLUSH_SECONDS, AccessLog, JSONLinesHandler


@pytest.fixture(autouse=True)
def info_level() -> Iterator[None]:
    """The `service` loggers at info, as `mnist-serve` configures them by default."""
    root = logging.getLogger("service")
    level = root.level
    root.setLevel(logging.INFO)
    yield
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_access_lines_reach_the_stream_soon_without_further_logging() -> None:
    stream = io.StringIO()
    access = AccessLog(JSONLinesHandler(stream))

    async def serve() -> list[dict[str, object]]:
        for i in range(3):
            access.request(request_id=f"r{i}", status=200)
        await asyncio.sleep(ACCESS_FLUSH_SECONDS * 4)  # nothing else is logged meanwhile
        return lines(stream)

    assert [e["request_id"] for e in asyncio.run(serve())] == ["r0", "r1", "r2"]


def test_other_lines_follow_the_access_lines_before_them() -> None:
    stream = io.StringIO()
    handler = JSONLinesHandler(stream)
    access = AccessLog(handler)
    logger = logging.getLogger("service.test-logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        async def serve() -> None:
            access.request(request_id="before", status=200)
            logger.error("something failed")
            access.request(request_id="after", status=500)

        asyncio.run(serve())  # the loop ends before its flush would have run
        handler.flush()  # as the app's shutdown and interpreter exit do
    finally:
        logger.removeHandler(handler)
    assert [e.get("request_id", e["msg"]) for e in lines(stream)] == ["before", "something failed", "after"]


def test_outside_an_event_loop_an_access_line_is_written_at_once() -> None:
    stream = io.StringIO()
    AccessLog(JSONLinesHandler(stream)).request(request_id="sync", status=200)
    assert [e["request_id"] for e in lines(stream)] == ["sync"]
