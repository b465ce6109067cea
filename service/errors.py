"""The one error type of the service: what went wrong, in words that say what and where, with the
HTTP status it stands for. Codecs, models and the data plane raise it; only the protocol layers
render it (the REST layer as a JSON body, the gRPC layer as a status code and message)."""

from __future__ import annotations

from typing import Any

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
              408: "request_timeout", 413: "payload_too_large", 415: "unsupported_media_type",
              422: "invalid_input", 431: "request_header_fields_too_large", 500: "internal_error",
              503: "not_ready"}


class ServiceError(Exception):
    """A request the service cannot answer as asked: `status` (HTTP's), a message for the client,
    per-problem `details`, a short `code`, and headers the answer needs (Retry-After)."""

    def __init__(self, status: int, message: str, details: list[dict[str, Any]] | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details or []
        self.code = code or HTTP_CODES.get(status, "error")
        self.headers = headers
