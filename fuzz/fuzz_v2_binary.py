"""Open Inference Protocol bodies with binary tensor data (Triton's extension), optionally gzip or
deflate encoded: the fuzzer picks the Inference-Header-Content-Length and the Content-Encoding."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["service", "neuralnet"]):
    from service.codecs.v2.protocol import parse_infer_request

from fuzz_checks import MAX_BATCH, MAX_BYTES, check_parse, check_request

ENCODINGS = (None, "identity", "gzip", "deflate", " GZIP ", "br")
CONTENT_TYPES = (None, "application/json", "application/octet-stream", "image/png")


def test_one_input(data: bytes) -> None:
    # framing: one byte picks the encoding (and, in its high bits, the Content-Type), two
    # (little-endian) the header length (0: none; 1: not a number; 2: thousands of digits; n: n - 3),
    # the rest is the body
    if len(data) < 3:
        return
    encoding = ENCODINGS[data[0] % len(ENCODINGS)]
    content_type = CONTENT_TYPES[(data[0] >> 4) % len(CONTENT_TYPES)]
    length = int.from_bytes(data[1:3], "little")
    length_text = {0: None, 1: "1e3", 2: "9" * 5000}.get(length, str(length - 3))
    body = data[3:]
    check_parse(lambda: parse_infer_request(body, length_text, encoding, MAX_BATCH, MAX_BYTES,
                                            content_type=content_type), check_request)


if __name__ == "__main__":
    from common import run

    run(test_one_input)
