"""The error raised for a client error, and the common error body it is rendered as:
{"error": {"code", "message", "details", "request_id"}}.

Imports nothing from the codecs, which raise APIError; `service.api.handlers` renders it (in the
v2 protocol's own shape under /v2).
"""

from __future__ import annotations

from typing import Any

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
              408: "request_timeout", 413: "payload_too_large", 415: "unsupported_media_type",
              422: "invalid_input", 500: "internal_error", 503: "not_ready"}


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
