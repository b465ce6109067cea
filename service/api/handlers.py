"""One error body for every failure, whoever raises it: ServiceError, Starlette's HTTP errors (404,
405, a malformed multipart body) and request validation, as {"error": {"code", "message",
"details", "request_id"}}.

Under /v2 (the Open Inference Protocol) errors take that protocol's shape, {"error": "message"},
so that its standard clients can read them; the request id is still in X-Request-ID.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.responses import JSONResponse
from service.codecs.v2 import errors as v2
from service.errors import HTTP_CODES, ServiceError


def error_body(status: int, message: str, request_id: str | None,
               details: list[dict[str, Any]] | None = None, code: str | None = None) -> dict[str, Any]:
    """The common error body: {"error": {"code", "message", "details", "request_id"}}."""
    return {"error": {"code": code or HTTP_CODES.get(status, "error"), "message": message,
                      "details": details or [], "request_id": request_id}}


def error_content(path: str, status: int, message: str, request_id: str | None,
                  details: list[dict[str, Any]] | None = None, code: str | None = None) -> dict[str, Any]:
    """The error body for a request to `path`: the v2 protocol's shape under /v2, else the common one."""
    if v2.is_protocol_path(path):
        return v2.error_body(message)
    return error_body(status, message, request_id, details, code)


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def service_error_response(request: Request, exc: ServiceError) -> JSONResponse:
    return JSONResponse(error_content(request.url.path, exc.status, exc.message, request_id_of(request),
                                      exc.details, exc.code), status_code=exc.status, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, service_error_response)  # type: ignore[arg-type]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else HTTP_CODES.get(exc.status_code, "error")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no route for {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
        return JSONResponse(error_content(request.url.path, exc.status_code, message, request_id_of(request)),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                   for e in exc.errors()]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        # the protocol reports bad input as 400
        status = v2.BAD_INPUT_STATUS if v2.is_protocol_path(request.url.path) else 422
        return JSONResponse(error_content(request.url.path, status, f"{where}: {first['msg']}",
                                          request_id_of(request), details), status_code=status)
