"""What every RPC shares: ServiceError to a gRPC status code and message, the request id, and the
access-log line and request metrics (protocol label `grpc`) of each call.

The metrics and the log record the HTTP status the error stands for (200 for OK), so one alert on
5xx or 4xx rates covers both protocols; the log line adds the gRPC code by name.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from service.api.logs import AccessLog
from service.dataplane.batcher import ClientGone
from service.errors import ServiceError
from service.metrics import Metrics

log = logging.getLogger("service.access")
SERVICE = "inference.GRPCInferenceService"
PROTOCOL = "grpc"
CLIENT_CLOSED_REQUEST = 499  # as the REST middleware records a client that hung up
STATUS_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
                403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
                408: grpc.StatusCode.DEADLINE_EXCEEDED, 409: grpc.StatusCode.FAILED_PRECONDITION,
                413: grpc.StatusCode.RESOURCE_EXHAUSTED, 415: grpc.StatusCode.INVALID_ARGUMENT,
                422: grpc.StatusCode.INVALID_ARGUMENT, 503: grpc.StatusCode.UNAVAILABLE,
                504: grpc.StatusCode.DEADLINE_EXCEEDED}
HTTP_STATUS = {code: status for status, code in STATUS_CODES.items() if status not in (415, 422, 408)}
HTTP_STATUS.update({grpc.StatusCode.OK: 200, grpc.StatusCode.CANCELLED: CLIENT_CLOSED_REQUEST,
                    grpc.StatusCode.INTERNAL: 500})
# Health probes, not counted as traffic (as REST's /health/ and /v2/health/ routes are not)
PROBES = frozenset(f"/{SERVICE}/{name}" for name in ("ServerLive", "ServerReady", "ModelReady"))
REQUEST_ID_KEY = "x-request-id"
VALID_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count()

Servicer = TypeVar("Servicer")
Request = TypeVar("Request")
Response = TypeVar("Response")
Method = Callable[[Servicer, Request, Any], Awaitable[Response]]


def metadata_value(context: Any, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return str(value)
    return None


def request_id(context: Any) -> str:
    given = metadata_value(context, REQUEST_ID_KEY)
    if given is not None and 0 < len(given) <= 128 and set(given) <= VALID_ID:
        return given
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


class CallRecorder:
    """The metrics and the access log, for the RPC wrapper; set on the servicer."""

    def __init__(self, metrics: Metrics, access_log: AccessLog) -> None:
        self.metrics, self.access_log = metrics, access_log

    def record(self, route: str, rid: str, code: grpc.StatusCode, seconds: float) -> None:
        status = HTTP_STATUS.get(code, 500)
        if route not in PROBES:
            self.metrics.observe_request(route, "POST", status, seconds, protocol=PROTOCOL)
        self.access_log.request(request_id=rid, protocol=PROTOCOL, method="POST", route=route, path=route,
                                status=status, grpc_status=code.name, duration_ms=round(seconds * 1000, 3))


def rpc(method: Method[Servicer, Request, Response]) -> Method[Servicer, Request, Response]:
    """Wrap a servicer method: a ServiceError becomes its status code and message, anything else
    INTERNAL (the trace to the log only); the call is logged and counted; the request id travels
    back in the trailing metadata."""
    route = f"/{SERVICE}/{method.__name__}"

    @functools.wraps(method)
    async def call(self: Servicer, request: Request, context: Any) -> Response:
        started = time.perf_counter()
        rid = request_id(context)
        code = grpc.StatusCode.OK
        recorder: CallRecorder = self.recorder  # type: ignore[attr-defined]
        try:
            context.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
            return await method(self, request, context)
        except ServiceError as exc:
            code = STATUS_CODES.get(exc.status, grpc.StatusCode.UNKNOWN)
            await context.abort(code, exc.message)
            raise  # abort raises; for the type checker
        except ClientGone:  # dropped before its batch started: the client went or its deadline passed
            code = (grpc.StatusCode.DEADLINE_EXCEEDED if _deadline_passed(context)
                    else grpc.StatusCode.CANCELLED)
            await context.abort(code, "the call was dropped before its batch started: the client's "
                                "deadline passed or it cancelled")
            raise
        except asyncio.CancelledError:  # the client went away or its deadline passed
            code = (grpc.StatusCode.DEADLINE_EXCEEDED if _deadline_passed(context)
                    else grpc.StatusCode.CANCELLED)
            raise
        except grpc.aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unhandled error", extra={"request_id": rid, "path": route})
            await context.abort(code, f"internal server error; quote the request id {rid} to the operator")
            raise
        finally:
            recorder.record(route, rid, code, time.perf_counter() - started)

    return call


def _deadline_passed(context: Any) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


def deadline_of(context: Any) -> float | None:
    """The client's deadline on time.monotonic()'s clock, or None."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def check_deadline(deadline: float | None) -> None:
    """504 (DEADLINE_EXCEEDED) once the client's deadline has passed: the work stops there."""
    if deadline is not None and time.monotonic() >= deadline:
        raise ServiceError(504, "the client's deadline passed before the work was done")
