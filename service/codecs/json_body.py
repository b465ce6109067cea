"""JSON request bodies, for the codecs that read JSON (/v1 and the v2 inference header): decoding
with orjson, and the cheap tests run before it: how many images a body can hold, and whether it
holds literals NumPy would silently turn into numbers."""

from __future__ import annotations

import json
from typing import Any

import orjson

from service.codecs.pixels import PIXELS
from service.errors import ServiceError


def load_json(body: bytes, what: str = "") -> Any:
    """Decode JSON with orjson; 400 `malformed JSON{what}: ...` if it does not parse.

    NaN and Infinity are not JSON, but they are numbers a client meant: they are let through (by
    the json fallback) for the value checks to report. orjson refuses nesting deeper than 1024;
    the fallback must refuse it too (RecursionError), not crash.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ServiceError(400, f"malformed JSON{what}: {exc}") from None


def has_json_literals(body: bytes, field: str | None = None) -> bool:
    """True if the body may hold true/false/null, which NumPy would coerce to numbers.

    A True may be a false alarm: it only sends the body through the exact, slower check. Given the
    body's one expected key, `field`, two single-byte scans do instead of three word searches:
    every literal has a `u` (true, null) or an `a` (false), and the key's own `a`s are discounted.
    """
    if field is not None:
        return b"u" in body or body.count(b"a") > field.count("a")
    return b"true" in body or b"false" in body or b"null" in body


def images_worth(body: bytes) -> int:
    """How many images of PIXELS values the numbers in a JSON body amount to, counted without
    parsing it (one byte scan): a body of N images, flat or in rows, has PIXELS * N - 1 commas.

    Decoding builds a Python object per number (~30 bytes each, from 2 bytes of JSON), so a body
    holding more images than a route accepts is refused on this count, before it is decoded.
    """
    return -(-(body.count(b",") + 1) // PIXELS)
