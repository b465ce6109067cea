"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for benchmarks/soak.py's load.

Why not only httpx: on the 2-core machine the soak shares the cores with the server, and httpx
spent ~1.3 ms of CPU per request of the mix against ~0.8 ms in the server, so the "maximum" was the
client's. This client writes each request's pre-encoded bytes and reads the answer by its
Content-Length: a fraction of that CPU, so more of the cores go to the server under test. It
speaks only what the soak needs (POST, answers with Content-Length, `Connection: close` honoured)
and raises on anything else, which the soak counts as an error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


class ProtocolError(Exception):
    """An answer this client cannot read (no Content-Length, a malformed status line)."""


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]  # lower-case names
    content: bytes


class Connection:
    """One keep-alive connection, opened on first use and again after any failure or close."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-length: {len(body)}\r\n"
                   f"{head}\r\n").encode() + body
        try:
            return await asyncio.wait_for(self._exchange(request), self.timeout)
        except BaseException:
            self.close()  # whatever state the stream is in, it is not at a request boundary any more
            raise

    async def _exchange(self, request: bytes) -> Response:
        if self.reader is not None and self.reader.at_eof():
            # The server closed it while idle (as httpx's pool checks before reusing a connection):
            # reconnect rather than send into a dead connection.
            self.close()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ProtocolError(f"status line {status_line!r}")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise ProtocolError(f"no content-length in {headers}")
        content = await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(int(parts[1]), headers, content)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
