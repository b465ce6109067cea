"""uvicorn's httptools protocol with a deadline for request headers (slow-header clients).

uvicorn times a connection out only while it is idle between requests (keep-alive). A client that
opens a connection and sends nothing, or sends its headers a byte at a time (slowloris), holds a
connection and its buffers for as long as it likes; enough of them exhaust the server's file
descriptors. Here every request's headers must be complete within MNIST_HEADER_TIMEOUT_SECONDS of
the connection opening or of the request's first byte; otherwise the answer is 408 with the
common error body, and the connection is closed. The body has its own deadline, in the middleware.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.api.handlers import error_body
from service.config import get_settings


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().header_timeout_seconds  # per worker, from the environment
        self.header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self.header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self.header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm()  # a pipelined request waits for the one before it to be answered first
            return
        message = f"the request headers did not arrive within {self.header_timeout:g} s"
        body = orjson.dumps(error_body(408, message, None))
        head = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\nx-content-type-options: nosniff\r\n"
                b"referrer-policy: no-referrer\r\n\r\n" % len(body))
        self.transport.write(head + body)
        self.transport.close()
