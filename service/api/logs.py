"""One JSON object per log line (orjson), with any `extra=` fields of the record.

The access log (one line per request) is the hot path: `AccessLog` writes the same shape of line
straight to the handler's stream, without building a `logging.LogRecord` (which costs more than
parsing a one-image request).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
ACCESS_LOGGER = "service.access"


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        entry.update({k: v for k, v in record.__dict__.items() if k not in STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str) -> logging.StreamHandler[Any]:
    """JSON lines on stderr for the `service` loggers, at `level`; returns the handler."""
    handler: logging.StreamHandler[Any] = logging.StreamHandler()
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger("service")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    return handler


class AccessLog:
    """`request(**fields)` writes `{"ts", "level": "info", "logger": "service.access", "msg": "request",
    ...fields}` as one line, when enabled and the `service` loggers' level lets info through."""

    def __init__(self, handler: logging.StreamHandler[Any], enabled: bool = True) -> None:
        self.handler, self.enabled = handler, enabled
        self.logger = logging.getLogger(ACCESS_LOGGER)

    def request(self, **fields: Any) -> None:
        if not (self.enabled and self.logger.isEnabledFor(logging.INFO)):
            return
        entry = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "info",
                 "logger": ACCESS_LOGGER, "msg": "request", **fields}
        line = orjson.dumps(entry, default=str).decode() + "\n"
        self.handler.acquire()  # the lock the handler's other lines take too: lines never interleave
        try:
            self.handler.stream.write(line)
            self.handler.flush()
        finally:
            self.handler.release()
