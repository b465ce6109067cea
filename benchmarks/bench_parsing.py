"""Request-body parsing cost, in process: what each way of sending pixels costs the server.

    python benchmarks/bench_parsing.py          # MNIST test digits from $MNIST_DATA_DIR

Prints a Markdown table of the median time (over --repeats timings) to turn a body into the
float32 pixel array the model takes, for one image and for a batch: /v1 through the NumPy byte
parser (`integer_images`) and through the exact orjson path, and the v2 inference body with JSON
`data` and with a binary tensor. A script, not a test: it asserts only that the paths agree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np

from service.codecs.json_body import has_json_literals
from service.codecs.v1.parser import images_from, integer_images, parse_json
from service.codecs.v2.protocol import parse_infer_request
from training.data import default_data_dir, load_mnist

JSON = "application/json"


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    number = max(1, int(0.05 / max(timeit.timeit(fn, number=1), 1e-6)))  # ~50 ms per timing
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeats)) / number * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="images in the batch bodies")
    parser.add_argument("--repeats", type=int, default=7, help="timings per row; the median is shown")
    args = parser.parse_args()
    images = load_mnist(default_data_dir()).test_images[: args.batch]
    n = len(images)

    v1 = compact({"images": images.tolist()})
    v2_json = compact({"inputs": [{"name": "images", "shape": [n, 28, 28], "datatype": "UINT8",
                                   "data": images.ravel().tolist()}]})
    header = compact({"inputs": [{"name": "images", "shape": [n, 28, 28], "datatype": "UINT8",
                                  "parameters": {"binary_data_size": images.size}}]})
    v2_binary = header + images.tobytes()
    one = compact({"pixels": images[0].tolist()})

    def exact(body: bytes, field: str, single: bool = False) -> np.ndarray:
        values = parse_json(body, JSON)[field]
        return images_from([values] if single else values, ["body", field], has_json_literals(body), single)

    def v2(body: bytes, header_length: str | None) -> np.ndarray:
        return parse_infer_request(body, header_length, None, 4096, 1 << 30).images

    want = images.reshape(n, 784).astype(np.float32)
    rows: list[tuple[str, str, Callable[[], np.ndarray | None]]] = [
        ("1", "/v1/predict, orjson path (what the route uses)", lambda: exact(one, "pixels", single=True)),
        (str(n), "/v1/predict/batch, NumPy byte parser (what the route uses)",
         lambda: integer_images(v1, "images")),
        (str(n), "/v1/predict/batch, orjson path (its fallback)", lambda: exact(v1, "images")),
        (str(n), "/v2 infer, JSON `data`", lambda: v2(v2_json, None)),
        (str(n), "/v2 infer, binary UINT8 tensor", lambda: v2(v2_binary, str(len(header)))),
    ]
    for _, name, fn in rows[1:]:
        got = fn()
        assert got is not None and np.array_equal(got, want), name
    print(f"| images | body | ms (median of {args.repeats}) |\n| ---: | --- | ---: |")
    for count, name, fn in rows:
        print(f"| {count} | {name} | {median_ms(fn, args.repeats):.3f} |")


if __name__ == "__main__":
    main()
