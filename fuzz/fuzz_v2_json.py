"""Open Inference Protocol JSON bodies (service/codecs/v2/protocol.py): any bytes give images in
0-255 and known outputs, or an ServiceError; never another exception."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["service", "neuralnet"]):
    from service.codecs.v2.protocol import parse_infer_request

from fuzz_checks import MAX_BATCH, MAX_BYTES, check_parse, check_request


def test_one_input(data: bytes) -> None:
    check_parse(lambda: parse_infer_request(data, None, None, MAX_BATCH, MAX_BYTES), check_request)


if __name__ == "__main__":
    from common import run

    run(test_one_input)
