"""The largest requests the default settings allow, one of each kind: what bounds a worker's memory.

Shared by the hostile-client tests and `benchmarks/bench_worst_case.py`. Each case is a request
as bytes plus the statuses it may get: the accepted ones must answer 200, the refused ones their
4xx. Sizes follow the defaults in service/config.py (8 MiB bodies, 5 MiB and 4096x4096 images,
1,024 images per batch); a server started with other limits needs other cases.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from testkit.images import encode

MAX_BODY = 8 * 1024 * 1024
MAX_BATCH = 1024
SIDE = 4096  # 4096 x 4096 = MNIST_MAX_IMAGE_PIXELS
# Issue 14's bound: 16 concurrent copies of any case keep a CNN worker's peak RSS below this. The
# hostile-client tests hold the server to it; the deployment files' memory limits must exceed it.
PEAK_BOUND_MIB = 512
EXAMPLE = Path(__file__).resolve().parent.parent / "service" / "static" / "example_digit.json"


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    statuses: tuple[int, ...] = (200,)


def _digit_canvas(mode: str) -> Image.Image:
    """A large white-on-black 7 with a textured background, so that image codecs cannot make it
    tiny: a real photo of a digit is mostly noise-free paper, this is worse."""
    canvas = Image.new("L", (SIDE, SIDE), 0)
    draw = ImageDraw.Draw(canvas)
    draw.line([(800, 800), (3300, 800), (1600, 3400)], fill=255, width=320)
    image = canvas.convert(mode) if mode not in ("I;16", "RGBA", "LA") else canvas
    if mode == "I;16":
        image = Image.fromarray(np.asarray(canvas, np.uint16) * 257)
    elif mode in ("RGBA", "LA"):
        alpha = canvas.copy()
        image = Image.merge(mode, [canvas.convert("L")] * (len(mode) - 1) + [alpha])
    return image


def _png_rgba64() -> bytes:
    """A 16-bit-per-channel RGBA PNG (Pillow cannot write one), written chunk by chunk."""
    gray = np.asarray(_digit_canvas("L"), np.uint16) * 257
    rows = np.empty((SIDE, 1 + SIDE * 8), np.uint8)
    rows[:, 0] = 0  # filter type None
    pixels = np.stack([gray, gray, gray, gray], axis=-1).astype(">u2")
    rows[:, 1:] = pixels.reshape(SIDE, -1).view(np.uint8)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", SIDE, SIDE, 16, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def _image_case(name: str, data: bytes, media: str) -> Case:
    assert len(data) <= 5 * 1024 * 1024, f"{name}: {len(data)} bytes is over MNIST_MAX_IMAGE_BYTES"
    return Case(f"image {name}", "/v1/predict/image", data, {"content-type": media})


def image_cases() -> list[Case]:
    """The largest image of each PNG and JPEG mode Pillow reads (4096 x 4096)."""
    cases = [_image_case(f"PNG {mode}", encode(_digit_canvas(mode), "PNG"), "image/png")
             for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")]
    cases.append(_image_case("PNG RGBA 16-bit", _png_rgba64(), "image/png"))
    cases += [_image_case(f"JPEG {mode}", encode(_digit_canvas(mode), "JPEG", quality=90), "image/jpeg")
              for mode in ("L", "RGB", "CMYK")]
    progressive = encode(_digit_canvas("RGB"), "JPEG", quality=90, progressive=True)
    cases.append(_image_case("JPEG RGB progressive", progressive, "image/jpeg"))
    return cases


def _digit() -> list[int]:
    pixels: list[list[int]] = json.loads(EXAMPLE.read_text())["pixels"]
    return [v for row in pixels for v in row]


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _float_pixels(count: int, digits: int) -> str:
    """`count` images of float pixels written with `digits` decimals: the exact (orjson) path."""
    rng = np.random.default_rng(0)
    image = ",".join(f"{v:.{digits}f}" for v in rng.uniform(0, 255, 784))
    return ",".join(f"[{image}]" for _ in range(count))


def json_cases() -> list[Case]:
    """/v1 and /v2 JSON at the limits, and bodies that exceed them in the cheapest way to send."""
    digit, json_type = _digit(), {"content-type": "application/json"}
    ints = _json({"images": [digit] * MAX_BATCH})
    floats = ('{"images":[' + _float_pixels(MAX_BATCH, 4) + "]}").encode()
    assert len(floats) <= MAX_BODY
    zeros_past_limit = b'{"images":[' + b",".join([b"[" + b",".join([b"0"] * 784) + b"]"]
                                                  * (MAX_BODY // 1600)) + b"]}"
    one_huge_image = b'{"pixels":[' + b",".join([b"0"] * (MAX_BODY // 2 - 8)) + b"]}"
    float_flood = b'{"pixels":[' + b",".join([b"0.5"] * (MAX_BODY // 4 - 8)) + b"]}"
    v2_ints = _json({"inputs": [{"name": "images", "datatype": "UINT8", "shape": [MAX_BATCH, 784],
                                 "data": digit * MAX_BATCH}]})
    v2_floats = ('{"inputs":[{"name":"images","datatype":"FP32","shape":[1024,784],"data":['
                 + _float_pixels(MAX_BATCH, 4) + "]}]}").encode()
    v2_past_limit = b'{"inputs":[{"name":"images","datatype":"UINT8","shape":[1,784],"data":[' + \
        b",".join([b"0"] * (MAX_BODY // 2 - 80)) + b"]}]}"
    infer = "/v2/models/mnist-cnn/infer"
    return [
        Case("v1 batch 1024 integer images", "/v1/predict/batch", ints, json_type),
        Case("v1 batch 1024 float images (8 MiB)", "/v1/predict/batch", floats, json_type),
        Case("v1 batch 5,200 images (over the count)", "/v1/predict/batch", zeros_past_limit, json_type,
             (422,)),
        Case("v1 single, 4 million values", "/v1/predict", one_huge_image, json_type, (422,)),
        Case("v1 single, 2 million floats", "/v1/predict", float_flood, json_type, (422,)),
        Case("v2 JSON 1024 integer images", infer, v2_ints, json_type),
        Case("v2 JSON 1024 float images (8 MiB)", infer, v2_floats, json_type),
        Case("v2 JSON 4 million values", infer, v2_past_limit, json_type, (400,)),
    ]


def _v2_binary(dtype: str, numpy_type: str, count: int) -> Case:
    pixels = np.tile(np.asarray(_digit(), numpy_type), count)
    header = _json({"inputs": [{"name": "images", "datatype": dtype, "shape": [count, 784],
                                "parameters": {"binary_data_size": pixels.nbytes}}],
                    "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]})
    return Case(f"v2 binary {count} {dtype} images", "/v2/models/mnist-cnn/infer", header + pixels.tobytes(),
                {"content-type": "application/octet-stream",
                 "inference-header-content-length": str(len(header))},
                (200,) if count <= MAX_BATCH else (400,))


def binary_cases() -> list[Case]:
    return [_v2_binary("FP64", "<f8", MAX_BATCH), _v2_binary("FP32", "<f4", MAX_BATCH),
            _v2_binary("UINT8", "u1", MAX_BATCH), _v2_binary("UINT8", "u1", 10_000)]


def compressed_cases() -> list[Case]:
    """Compressed v2 bodies: the largest allowed once inflated, and one inflating past the limit."""
    v2 = _v2_binary("FP64", "<f8", MAX_BATCH)
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
    return [Case("v2 binary gzip 1024 FP64", v2.path, gzip.compress(v2.body),
                 {**v2.headers, "content-encoding": "gzip"}),
            Case("v2 gzip bomb 64 MiB", v2.path, bomb, {**v2.headers, "content-encoding": "gzip"}, (413,))]


BUILDERS: tuple[Callable[[], list[Case]], ...] = (image_cases, json_cases, binary_cases, compressed_cases)


def all_cases() -> list[Case]:
    return [case for build in BUILDERS for case in build()]
