"""uvicorn's httptools protocol with a deadline and a size limit for request heads.

uvicorn times a connection out only while it is idle between requests (keep-alive). A client that
opens a connection and sends nothing, or sends its headers a byte at a time (slowloris), holds a
connection and its buffers for as long as it likes; enough of them exhaust the server's file
descriptors. Here every request's headers must be complete within MNIST_HEADER_TIMEOUT_SECONDS of
the connection opening or of the request's first byte; otherwise the answer is 408 with the
common error body, and the connection is closed. The body has its own deadline, in the middleware.

A head (request line and headers) may be at most MNIST_MAX_HEADER_BYTES long: the parser is fed
at most that many bytes of it, and a head that is still not complete then gets 431 and the
connection is closed. httptools builds each header value by appending every chunk to what it
has, so without a limit one long header costs time quadratic in its length, on the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.api.handlers import error_body
from service.config import get_settings

LINGER_SECONDS = 1.0  # how long a refused client has to read its answer before the connection closes


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().header_timeout_seconds  # per worker, from the environment
        self.header_deadline: asyncio.TimerHandle | None = None
        self.max_head_bytes = get_settings().max_header_bytes
        self.reading_head = True  # from the connection's start, or a message's end, to headers complete
        self.head_bytes = 0  # fed to the parser since then

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

    def data_received(self, data: bytes) -> None:
        # While a head is being read the parser gets it in pieces, never past the limit; what
        # follows a complete head (the body, pipelined requests) is fed as it came.
        while self.reading_head and data:
            room = self.max_head_bytes - self.head_bytes
            if room <= 0:
                self._head_too_large()
                return
            piece, data = data[:room], data[room:]
            self.head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return  # refused (400) or handed over (an upgrade)
        if self.reading_head and self.head_bytes >= self.max_head_bytes:
            self._head_too_large()  # the limit reached and the head still not complete
            return
        if data:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self.reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_head, self.head_bytes = True, 0

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _refuse(self, status_line: bytes, status: int, message: str) -> None:
        body = orjson.dumps(error_body(status, message, None))
        head = (b"HTTP/1.1 " + status_line + b"\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\nx-content-type-options: nosniff\r\n"
                b"referrer-policy: no-referrer\r\n\r\n" % len(body))
        self.transport.write(head + body)
        if not self.reading_head or self.head_bytes == 0 or not self.transport.can_write_eof():
            self.transport.close()
            return
        # The client may still be sending: closing with its bytes unread would reset the connection
        # and could discard the answer before the client reads it. So end our side, read nothing
        # more, and close a little later; the parser, holding the partial head, goes at once.
        self.transport.write_eof()
        self.transport.pause_reading()
        self.parser = httptools.HttpRequestParser(self)
        self.url, self.headers = b"", []
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _head_too_large(self) -> None:
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            # pipelined behind a request still being answered: an answer now would cut into that one
            self.transport.close()
            return
        self._refuse(b"431 Request Header Fields Too Large", 431,
                     f"the request line and headers are longer than {self.max_head_bytes} bytes "
                     "(MNIST_MAX_HEADER_BYTES)")

    def _headers_too_slow(self) -> None:
        self.header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm()  # a pipelined request waits for the one before it to be answered first
            return
        self._refuse(b"408 Request Timeout", 408,
                     f"the request headers did not arrive within {self.header_timeout:g} s")
