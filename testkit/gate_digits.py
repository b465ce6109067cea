"""Writes service/static/gate_digits.npz, the labelled digits the load gate measures a version on
(service/models/checks.py): DIGITS_PER_CLASS MNIST test images of each digit, chosen by a seeded
generator, so that the same MNIST files always give the same file.

    MNIST_DATA_DIR=/path/to/mnist python -m testkit.gate_digits

MNIST (Yann LeCun and Corinna Cortes) is licensed CC BY-SA 3.0; the note beside the file says so.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from training.data import load_mnist

DIGITS_PER_CLASS = 50
SEED = 20261202
TARGET = Path(__file__).resolve().parent.parent / "service" / "static" / "gate_digits.npz"


def choose(labels: np.ndarray, per_class: int = DIGITS_PER_CLASS, seed: int = SEED) -> np.ndarray:
    """Indices of `per_class` test images of each class, in a seeded random order."""
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == digit), per_class, replace=False) for digit in range(10)]
    chosen = np.concatenate(picked)
    return chosen[rng.permutation(len(chosen))]


def gate_file_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The .npz bytes (uint8 `images` (N, 28, 28) and `labels` (N,)), the same for the same data."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in (("images", images), ("labels", labels)):
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))  # no clock in the bytes
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array, np.uint8), allow_pickle=False)
    return out.getvalue()


def main() -> None:
    mnist = load_mnist(os.environ.get("MNIST_DATA_DIR"))
    indices = choose(mnist.test_labels)
    data = gate_file_bytes(mnist.test_images[indices], mnist.test_labels[indices])
    tmp = TARGET.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(TARGET)
    print(f"{TARGET}: {len(indices)} MNIST test digits, {len(data)} bytes")


if __name__ == "__main__":
    main()
