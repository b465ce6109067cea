"""A client that streams an over-long request head, as an attacker would, and reads what the server
answers meanwhile: what the header-limit tests and benchmarks/bench_headers.py send."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass

from testkit.server import HOST

HEAD_START = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: "
CHUNK = 64 * 1024


@dataclass
class HeadOutcome:
    answer: bytes  # everything the server sent before it closed (or the client gave up)
    sent: int  # bytes the client got into the connection; the server read at most this many
    seconds: float  # from the first byte sent to the end of the answer

    @property
    def status(self) -> int | None:
        parts = self.answer.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def stream_long_head(port: int, value_bytes: int, *, start: bytes = HEAD_START,
                     timeout: float = 30.0) -> HeadOutcome:
    """Send `start`, then `value_bytes` of `a`, then the end of the head, never blocking on a full
    connection; stop sending as soon as the server answers or closes, and read its answer."""
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setblocking(False)
    pending, left, sent, answer = memoryview(start), value_bytes, 0, b""
    filler = b"a" * CHUNK
    began = time.monotonic()
    deadline = began + timeout
    try:
        while time.monotonic() < deadline:
            if not pending and left:
                piece = min(left, CHUNK)
                pending, left = memoryview(filler[:piece]), left - piece
            elif not pending and left == 0 and sent >= 0:
                pending, left = memoryview(b"\r\n\r\n"), -1  # then nothing more to send
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 1.0)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break  # the server closed after its answer
                answer += chunk
                pending = memoryview(b"")
                left = -1  # an answer came: stop sending, read the rest
            elif writable and pending:
                try:
                    n = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    pending, left = memoryview(b""), -1
                    continue
                sent += n
                pending = pending[n:]
    finally:
        sock.close()
    return HeadOutcome(answer=answer, sent=sent, seconds=time.monotonic() - began)
