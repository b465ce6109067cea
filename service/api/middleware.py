"""Pure-ASGI middleware: request id, body-size limit, access log and request metrics.

The body of a POST is read here, up to `max_body_bytes`, before any route sees it: a declared
Content-Length over the limit is refused at once, and a chunked upload is refused as soon as
the bytes received pass the limit; a body still incomplete after `body_timeout` seconds gets 408
and its buffer is dropped. The buffered body is then replayed to the app.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.direct_route import DirectDispatch
from service.api.handlers import error_content
from service.api.logs import AccessLog
from service.dataplane.batcher import ClientGone
from service.dataplane.plane import DataPlane
from service.metrics import NOT_TRAFFIC, Metrics

log = logging.getLogger("service.access")
# Recorded (metrics, access log) for a request whose client hung up before the answer: nginx's code
CLIENT_CLOSED_REQUEST = 499
# On every response: no MIME sniffing of our JSON and pages, and no Referer to other sites
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
REQUEST_ID_HEADER = b"x-request-id"
VALID_ID = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


# Generated ids: a random prefix per process and a counter, unique without a system call per request.
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count()


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and 0 < len(value) <= 128 and set(value) <= VALID_ID:
            return value.decode()
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: AccessLog, max_body_bytes: int,
                 plane: DataPlane, body_timeout: float = 30.0, direct: DirectDispatch | None = None) -> None:
        self.app, self.metrics, self.access_log = app, metrics, access_log
        self.direct = direct  # the traffic routes, answered without the app's routing layers
        self.max_body_bytes, self.body_timeout = max_body_bytes, body_timeout
        self.plane = plane  # its in-flight limit, shared with every protocol
        # Body reads in progress -> their deadline, checked by one watchdog task: cheaper per request
        # than a timer per read (a one-image request is ~130 us; asyncio.timeout added ~6)
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                headers = message.get("headers", [])
                present = {name.lower() for name, _ in headers}
                message["headers"] = [*headers, (REQUEST_ID_HEADER, rid.encode()),
                                      *(h for h in SECURITY_HEADERS if h[0] not in present)]
            await send(message)

        limited = not scope["path"].startswith(NOT_TRAFFIC)  # probes and scrapes answer even when busy
        if limited and not self.plane.admit():
            status, busy = 503, self.plane.overloaded()
            await self._send_error(scope["path"], 503, busy.message, rid, send_with_id, code=busy.code,
                                   close=False, headers=tuple((k.lower().encode(), v.encode())
                                                              for k, v in (busy.headers or {}).items()))
            self._record(scope, rid, status, start)
            return
        try:
            body_receive = await self._buffer_body(scope, receive)
            if not isinstance(body_receive, int):
                if self.direct is None or not await self.direct(scope, body_receive, send_with_id):
                    await self.app(scope, body_receive, send_with_id)
            elif body_receive == CLIENT_CLOSED_REQUEST:
                status = CLIENT_CLOSED_REQUEST
            else:
                message = (f"request body is larger than the limit of {self.max_body_bytes} bytes"
                           if body_receive == 413 else
                           f"the request body did not arrive within {self.body_timeout:g} s")
                await self._send_error(scope["path"], body_receive, message, rid, send_with_id)
        except (ClientDisconnect, ClientGone):  # the client hung up: nothing to answer, not a server error
            if not started:
                status = CLIENT_CLOSED_REQUEST
        except Exception:
            # Any unexpected failure: the stack trace goes to the log only, the client gets the
            # common error body with the request id (and the X-Request-ID header).
            log.exception("unhandled error", extra={"request_id": rid, "path": scope["path"]})
            if not started:
                await self._send_error(scope["path"], 500, "internal server error; quote the request id "
                                       "to the operator", rid, send_with_id)
        finally:
            if limited:
                self.plane.release()
            self._record(scope, rid, status, start)

    def _record(self, scope: Scope, rid: str, status: int, start: float) -> None:
        route_path = self._route_label(scope, status)
        seconds = time.perf_counter() - start
        self.metrics.observe_request(route_path, scope["method"], status, seconds)
        self.access_log.request(request_id=rid, protocol="rest", method=scope["method"], route=route_path,
                                path=scope["path"], status=status, duration_ms=round(seconds * 1000, 3))

    @staticmethod
    def _route_label(scope: Scope, status: int) -> str:
        """The route template; the raw path only for a known route, else `unmatched` (bounded labels)."""
        route = scope.get("route")
        if route is not None and hasattr(route, "path"):
            return str(route.path)
        app = scope.get("app")
        known = {getattr(r, "path", None) for r in getattr(app, "routes", [])}
        return scope["path"] if scope["path"] in known and status != 404 else "unmatched"

    async def _buffer_body(self, scope: Scope, receive: Receive) -> Receive | int:
        """A receive that replays the whole body, or the status the request ends with instead: 413
        over the size limit, 408 stalled past body_timeout (the partial body is dropped at once),
        CLIENT_CLOSED_REQUEST if the client hung up before sending all of it."""
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return receive
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                return 413
        chunks: list[bytes] = []
        size = 0
        more = True
        task = asyncio.current_task()
        assert task is not None
        self._watch(task)
        try:
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return CLIENT_CLOSED_REQUEST
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body_bytes:
                    return 413
                chunks.append(chunk)
                more = message.get("more_body", False)
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            task.uncancel()  # cancelled by the watchdog, not by the server: answer 408
            return 408
        finally:
            self._reading.pop(task, None)
            self._expired.discard(task)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def _watch(self, task: asyncio.Task[Any]) -> None:
        loop = asyncio.get_running_loop()
        self._reading[task] = loop.time() + self.body_timeout
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = loop.create_task(self._cancel_stalled_reads())

    async def _cancel_stalled_reads(self) -> None:
        """Cancel the body reads past their deadline, checking a few times per timeout."""
        loop = asyncio.get_running_loop()
        while self._reading:
            await asyncio.sleep(min(1.0, self.body_timeout / 4))
            now = loop.time()
            for task, deadline in list(self._reading.items()):
                if now > deadline and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()

    @staticmethod
    async def _send_error(path: str, status: int, message: str, rid: str, send: Send,
                          code: str | None = None, close: bool = True,
                          headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        payload: dict[str, Any] = error_content(path, status, message, rid, code=code)
        data = orjson.dumps(payload)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode()),
                                *([(b"connection", b"close")] if close else []), *headers]})
        await send({"type": "http.response.body", "body": data})
