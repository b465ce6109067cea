"""How an inference request's body is framed: its Content-Encoding, the JSON header and the binary
tensor bytes after it (Triton's binary tensor data extension), and a raw binary request, the
tensor's bytes alone."""

from __future__ import annotations

import zlib

from service.codecs.v2.errors import bad_input as _bad
from service.errors import ServiceError


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body after its Content-Encoding (gzip or deflate, as tritonclient can send), at most `limit`."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise ServiceError(415, f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none")
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)  # bounded: a small bomb cannot fill memory
    except zlib.error as exc:
        raise _bad(f"body is not valid {encoding} data: {exc}") from None
    if len(out) > limit:
        raise ServiceError(413, f"decompressed body is larger than the limit of {limit} bytes")
    if not inflater.eof:
        raise _bad(f"body is truncated {encoding} data")
    return out


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON header, binary tensor bytes) as `Inference-Header-Content-Length` divides the body."""
    if header_length is None:
        return body, b""
    text = header_length.strip()
    digits = text.lstrip("0") or "0"  # no more digits than the body's length has: int() stays cheap
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(len(body))) \
            or int(digits) > len(body):  # `²` is a digit to isdigit
        raise _bad(f"Inference-Header-Content-Length must be an integer from 0 to the body length "
                   f"{len(body)}, got {header_length!r}")
    return body[: int(text)], body[int(text) :]
