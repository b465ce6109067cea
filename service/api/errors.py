"""One error body for every failure: {"error": {"code", "message", "details", "request_id"}}.

Under /v2 (the Open Inference Protocol) errors take that protocol's shape, {"error": "message"},
so that its standard clients can read them; the request id is still in X-Request-ID.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.responses import JSONResponse

HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
              413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_input",
              500: "internal_error", 503: "not_ready"}


class APIError(Exception):
    """Raised by handlers for a client error; rendered as the common error body."""

    def __init__(self, status: int, message: str, details: list[dict[str, Any]] | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details or []
        self.code = code or HTTP_CODES.get(status, "error")


def error_body(status: int, message: str, request_id: str | None,
               details: list[dict[str, Any]] | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code or HTTP_CODES.get(status, "error"), "message": message,
                      "details": details or [], "request_id": request_id}}


def is_v2_path(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def error_content(path: str, status: int, message: str, request_id: str | None,
                  details: list[dict[str, Any]] | None = None, code: str | None = None) -> dict[str, Any]:
    """The error body for a request to `path`: the v2 protocol's shape under /v2, else the common one."""
    if is_v2_path(path):
        return {"error": message}
    return error_body(status, message, request_id, details, code)


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(error_content(request.url.path, exc.status, exc.message, request_id_of(request),
                                          exc.details, exc.code), status_code=exc.status)

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
        status = 400 if is_v2_path(request.url.path) else 422  # the protocol reports bad input as 400
        return JSONResponse(error_content(request.url.path, status, f"{where}: {first['msg']}",
                                          request_id_of(request), details), status_code=status)
