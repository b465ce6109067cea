"""One JSON object per log line (orjson), with any `extra=` fields of the record.

The access log (one line per request) is the hot path: `AccessLog` makes the same shape of line
without building a `logging.LogRecord` (which costs more than parsing a one-image request), and
the handler writes access lines together, at most `ACCESS_FLUSH_SECONDS` after the first of them:
a write per request is a system call per request, and each one releases the GIL, which under gRPC
load grpc's polling thread takes before the loop gets it back. Any other line writes the pending ones first,
so lines keep their order; so do shutdown (the app's lifespan) and interpreter exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
ACCESS_LOGGER = "service.access"
ACCESS_FLUSH_SECONDS = 0.05
MAX_PENDING_LINES = 512  # written at once past this many, whatever the time


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        entry.update({k: v for k, v in record.__dict__.items() if k not in STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class JSONLinesHandler(logging.StreamHandler[TextIO]):
    """stderr, one JSON line per record; access lines through `write_soon`, buffered."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self.setFormatter(JSONFormatter())
        self.pending: list[str] = []
        self.flush_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self.acquire()
        try:
            self.pending.append(line)
            self._write_pending()
        finally:
            self.release()

    def write_soon(self, line: str) -> None:
        """`line` (ending in a newline) within ACCESS_FLUSH_SECONDS; at once outside an event loop."""
        self.acquire()
        try:
            self.pending.append(line)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is None or len(self.pending) >= MAX_PENDING_LINES:
                self._write_pending()
            elif self.flush_on is not loop:  # none scheduled, or on a loop that is gone
                self.flush_on = loop
                loop.call_later(ACCESS_FLUSH_SECONDS, self.flush)
        finally:
            self.release()

    def flush(self) -> None:
        """Write the pending lines, then flush the stream (logging.shutdown calls this at exit)."""
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()

    def _write_pending(self) -> None:  # with the lock held
        self.flush_on = None
        if self.pending:
            lines, self.pending = "".join(self.pending), []
            self.stream.write(lines)
        if self.stream and hasattr(self.stream, "flush"):
            self.stream.flush()


def configure(level: str) -> JSONLinesHandler:
    """JSON lines on stderr for the `service` loggers, at `level`; returns the handler."""
    handler = JSONLinesHandler()
    root = logging.getLogger("service")
    for previous in root.handlers:
        with contextlib.suppress(OSError, ValueError):  # a closed stream: nowhere left to write
            previous.flush()  # an earlier app's pending lines
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    return handler


class AccessLog:
    """`request(**fields)` writes `{"ts", "level": "info", "logger": "service.access", "msg": "request",
    ...fields}` as one line, when enabled and the `service` loggers' level lets info through."""

    def __init__(self, handler: JSONLinesHandler, enabled: bool = True) -> None:
        self.handler, self.enabled = handler, enabled
        self.logger = logging.getLogger(ACCESS_LOGGER)

    def request(self, **fields: Any) -> None:
        if not (self.enabled and self.logger.isEnabledFor(logging.INFO)):
            return
        entry = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "info",
                 "logger": ACCESS_LOGGER, "msg": "request", **fields}
        self.handler.write_soon(orjson.dumps(entry, default=str).decode() + "\n")

    def flush(self) -> None:
        self.handler.flush()
