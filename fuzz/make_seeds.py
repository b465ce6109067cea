"""Writes the harnesses' starting inputs (fuzz/seeds/<target>/): one valid input of each common
form, so that the fuzzer starts from the paths good requests take. Run once; the files are kept."""

from __future__ import annotations

import gzip
import io
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from neuralnet.artifact import save_artifact
from testkit.artifacts import tiny_artifact

SEEDS = Path(__file__).resolve().parent / "seeds"


def write(target: str, name: str, data: bytes) -> None:
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def main() -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    flat = digit.ravel().tolist()
    write("v1_parser", "single_flat", json.dumps({"pixels": flat}).encode())
    write("v1_parser", "single_rows", json.dumps({"pixels": digit.tolist()}).encode())
    write("v1_parser", "batch_ints", json.dumps({"images": [flat, flat]}).encode())
    write("v1_parser", "batch_floats", json.dumps({"images": [[v / 2 for v in flat]]}).encode())
    tensor = {"name": "images", "shape": [1, 784], "datatype": "UINT8", "data": flat}
    write("v2_json", "flat", json.dumps({"inputs": [tensor]}).encode())
    write("v2_json", "nested", json.dumps({"id": "a", "inputs": [{**tensor, "shape": [1, 28, 28],
                                                                   "data": digit.tolist()}],
                                           "outputs": [{"name": "digit"}]}).encode())
    header = json.dumps({"inputs": [{"name": "images", "shape": [1, 784], "datatype": "UINT8",
                                     "parameters": {"binary_data_size": 784}}],
                         "outputs": [{"name": "probabilities",
                                      "parameters": {"binary_data": True}}]}).encode()
    # the binary harness reads: one byte for the encoding, two for the header length, then the body
    length = (len(header) + 3).to_bytes(2, "little")
    write("v2_binary", "binary", b"\x00" + length + header + digit.tobytes())
    gzipped = gzip.compress(json.dumps({"inputs": [tensor]}).encode())
    write("v2_binary", "gzip_json", b"\x02" + b"\x00\x00" + gzipped)
    write("v2_binary", "raw_image", b"\x20" + (3).to_bytes(2, "little") + digit.tobytes())
    for fmt, mode in (("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "L")):
        out = io.BytesIO()
        Image.fromarray(255 - digit).convert(mode).save(out, fmt)
        write("images", f"digit_{mode}.{fmt.lower()}", out.getvalue())
    with tempfile.TemporaryDirectory() as tmp:
        write("artifact", "tiny.npz", tiny_artifact(Path(tmp), name="tiny-mlp", version=1).read_bytes())
        # a few hundred bytes: mutations then reach the zip directory and headers often
        meta = {"model_name": "m", "labels": ["a", "b"], "input": {"shape": [2, 2, 1], "mean": 0, "std": 1},
                "architecture": [{"type": "flatten"}, {"type": "dense", "in_features": 4, "out_features": 2}]}
        arrays = {"layers.1.W": np.ones((4, 2), np.float32), "layers.1.b": np.zeros(2, np.float32)}
        write("artifact", "smallest.npz", save_artifact(Path(tmp), meta, arrays, version=1).read_bytes())


if __name__ == "__main__":
    main()
