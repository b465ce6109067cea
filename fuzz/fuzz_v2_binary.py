"""Open Inference Protocol bodies with binary tensor data (Triton's extension), optionally gzip or
deflate encoded: the fuzzer picks the Inference-Header-Content-Length and the Content-Encoding."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["service", "neuralnet"]):
    from service.api.errors import APIError
    from service.codecs.v2.protocol import parse_infer_request

from fuzz_checks import MAX_BATCH, MAX_BYTES, check_request

ENCODINGS = (None, "identity", "gzip", "deflate", " GZIP ", "br")


def test_one_input(data: bytes) -> None:
    # framing: one byte picks the encoding, two (little-endian) the header length (0: no header
    # length; 1: a non-numeric one), the rest is the body
    if len(data) < 3:
        return
    encoding = ENCODINGS[data[0] % len(ENCODINGS)]
    length = int.from_bytes(data[1:3], "little")
    length_text = {0: None, 1: "1e3"}.get(length, str(length - 2))
    body = data[3:]
    try:
        request = parse_infer_request(body, length_text, encoding, MAX_BATCH, MAX_BYTES)
    except APIError as exc:
        assert 400 <= exc.status < 500, exc.status
        return
    check_request(request)


if __name__ == "__main__":
    from common import run

    run(test_one_input)
