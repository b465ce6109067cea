"""The request mix of benchmarks/soak.py: each kind of request, its share, the status it must get
and a check of the answer.

Every body is built once, before the load starts, so the load generator spends its CPU on HTTP and
not on encoding. The digit is service/static/example_digit.json (a real MNIST test 7), so a sane
answer is a 7; the bad requests are the ones clients really send, each with the 4xx it must get.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from testkit.images import render  # noqa: E402

EXAMPLE = REPO_ROOT / "service" / "static" / "example_digit.json"
DIGIT = 7  # the example's label
BATCH = 32  # images in a /v1 batch request
V2_BATCH = 16  # images in a multi-image v2 request
BOUNDARY = "soak-boundary-7f3a"

# Shares of the mix, in percent (they need not add up to 100: they are relative weights). About 2 %
# bad requests, the rest spread over every way the service takes pixels.
WEIGHTS = {
    "v1-single": 35.0, "v1-batch-32": 8.0, "v1-image-raw": 6.0, "v1-image-multipart": 6.0,
    "v2-json-1": 14.0, "v2-json-16": 7.0, "v2-binary-1": 12.0, "v2-binary-16": 10.0,
    "bad-pixel-count": 0.5, "bad-json": 0.5, "bad-content-type": 0.5, "bad-model": 0.5,
}

Check = Callable[[bytes, Mapping[str, str]], str | None]  # (body, headers) -> None, or what is wrong


@dataclass(frozen=True)
class Kind:
    name: str
    path: str
    body: bytes
    headers: dict[str, str]
    expect: int  # the only status this request may get
    check: Check


def _digits_v1(count: int) -> Check:
    def check(body: bytes, headers: Mapping[str, str]) -> str | None:
        answer: dict[str, Any] = orjson.loads(body)
        answers = answer.get("predictions", [answer])  # a batch, or one answer
        digits = [a["digit"] for a in answers]
        if digits != [DIGIT] * count or any(len(a["probabilities"]) != 10 for a in answers):
            return f"digits {digits[:8]} (expected {count} x {DIGIT}) or not 10 probabilities"
        return None
    return check


def _digits_v2_json(count: int) -> Check:
    def check(body: bytes, headers: Mapping[str, str]) -> str | None:
        outputs = {o["name"]: o for o in orjson.loads(body)["outputs"]}
        digits = outputs["digit"]["data"]
        if digits != [DIGIT] * count or outputs["probabilities"]["shape"] != [count, 10]:
            return f"digits {digits[:8]} (expected {count} x {DIGIT}) or probabilities not [{count}, 10]"
        return None
    return check


def _digits_v2_binary(count: int) -> Check:
    def check(body: bytes, headers: Mapping[str, str]) -> str | None:
        length = int(headers["inference-header-content-length"])
        outputs = orjson.loads(body[:length])["outputs"]
        if [o["name"] for o in outputs] != ["digit"]:
            return f"outputs {[o['name'] for o in outputs]} (asked for digit only)"
        digits = np.frombuffer(body[length:], "<i8").tolist()
        return None if digits == [DIGIT] * count else f"digits {digits[:8]} (expected {count} x {DIGIT})"
    return check


def _error_body(body: bytes, headers: Mapping[str, str]) -> str | None:
    # Both error shapes (the common one and the v2 protocol's) carry an "error" key.
    return None if "error" in orjson.loads(body) else f"no 'error' in {body[:200]!r}"


def build_mix(model: str) -> list[Kind]:
    pixels = np.array(json.loads(EXAMPLE.read_text())["pixels"], np.uint8)
    flat = pixels.ravel().tolist()
    png = render(pixels, 56, dark_on_light=True)  # a 56x56 dark-on-white PNG, as a scan looks
    as_json = {"content-type": "application/json"}
    infer = f"/v2/models/{model}/infer"

    def v2_json(count: int) -> bytes:
        return orjson.dumps({"inputs": [{"name": "images", "shape": [count, 784], "datatype": "UINT8",
                                         "data": flat * count}], "outputs": [{"name": "digit"},
                                                                            {"name": "probabilities"}]})

    def v2_binary(count: int) -> tuple[bytes, dict[str, str]]:
        blob = np.repeat(pixels[None], count, axis=0).tobytes()
        header = orjson.dumps({"inputs": [{"name": "images", "shape": [count, 28, 28], "datatype": "UINT8",
                                           "parameters": {"binary_data_size": len(blob)}}],
                               "outputs": [{"name": "digit", "parameters": {"binary_data": True}}]})
        return header + blob, {"content-type": "application/octet-stream",
                               "inference-header-content-length": str(len(header))}

    multipart = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"digit.png\"\r\n"
                 f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{BOUNDARY}--\r\n".encode()
    binary_1, binary_1_headers = v2_binary(1)
    binary_16, binary_16_headers = v2_binary(V2_BATCH)
    kinds = [
        Kind("v1-single", "/v1/predict", orjson.dumps({"pixels": flat}), as_json, 200, _digits_v1(1)),
        Kind("v1-batch-32", "/v1/predict/batch", orjson.dumps({"images": [flat] * BATCH}), as_json, 200,
             _digits_v1(BATCH)),
        Kind("v1-image-raw", "/v1/predict/image", png, {"content-type": "image/png"}, 200, _digits_v1(1)),
        Kind("v1-image-multipart", "/v1/predict/image", multipart,
             {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}, 200, _digits_v1(1)),
        Kind("v2-json-1", infer, v2_json(1), as_json, 200, _digits_v2_json(1)),
        Kind("v2-json-16", infer, v2_json(V2_BATCH), as_json, 200, _digits_v2_json(V2_BATCH)),
        Kind("v2-binary-1", infer, binary_1, binary_1_headers, 200, _digits_v2_binary(1)),
        Kind("v2-binary-16", infer, binary_16, binary_16_headers, 200, _digits_v2_binary(V2_BATCH)),
        Kind("bad-pixel-count", "/v1/predict", orjson.dumps({"pixels": flat[:783]}), as_json, 422,
             _error_body),
        Kind("bad-json", "/v1/predict", b'{"pixels": [0, 0,', as_json, 400, _error_body),
        Kind("bad-content-type", "/v1/predict/image", b"not an image", {"content-type": "text/plain"}, 415,
             _error_body),
        Kind("bad-model", "/v2/models/no-such-model/infer", v2_json(1), as_json, 404, _error_body),
    ]
    assert [k.name for k in kinds] == list(WEIGHTS), "WEIGHTS and the kinds must name the same requests"
    return kinds


def schedule(kinds: list[Kind], seed: int, length: int = 1000) -> list[Kind]:
    """A shuffled cycle of `length` requests with each kind's share of WEIGHTS (at least one each), so
    even a short run sends every kind, and the mix is the same from run to run."""
    total = sum(WEIGHTS.values())
    cycle = [k for k in kinds for _ in range(max(1, round(WEIGHTS[k.name] / total * length)))]
    random.Random(seed).shuffle(cycle)
    return cycle
