"""The protocol's errors: bad input is a 400 (not 422), and every error body is {"error": message}."""

from __future__ import annotations

from typing import Any

from service.errors import ServiceError

PATH_PREFIX = "/v2"  # every route of the protocol, and every error in its shape, is under it
BAD_INPUT_STATUS = 400


def bad_input(message: str) -> ServiceError:
    return ServiceError(BAD_INPUT_STATUS, message)


def is_protocol_path(path: str) -> bool:
    """Whether a request to `path` is one of this protocol's (its errors then take its shape)."""
    return path == PATH_PREFIX or path.startswith(PATH_PREFIX + "/")


def error_body(message: str) -> dict[str, Any]:
    """The protocol's error body: {"error": message} (the request id is in X-Request-ID)."""
    return {"error": message}
