"""Reading MNIST from IDX files (gzipped or raw) and carving the validation split.

IDX layout (big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions d, then d uint32 sizes, then prod(sizes) items. MNIST images are 3-d (n, 28, 28),
labels 1-d (n,).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
DATA_DIR_ENV = "MNIST_DATA_DIR"
IDX_UBYTE = 0x08


class IdxError(ValueError):
    """An IDX file is truncated, corrupt or not what was expected."""


def read_idx(path: str | os.PathLike[str], expected_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (gzip detected by its magic bytes), checking header and length."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise IdxError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:  # gzip raises these on a truncated/corrupt stream
        raise IdxError(f"{path}: not a readable gzip file ({exc})") from None
    if len(raw) < 4:
        raise IdxError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0:
        raise IdxError(f"{path}: bad magic number {raw[:4].hex()} (must start with 0000)")
    if raw[2] != IDX_UBYTE:
        raise IdxError(f"{path}: type code 0x{raw[2]:02x}, only unsigned byte (0x08) is supported")
    ndim = raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise IdxError(f"{path}: {ndim} dimensions in header, expected {expected_ndim}")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IdxError(f"{path}: truncated header ({len(raw)} of {header_len} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) if shape else 1
    actual = len(raw) - header_len
    if actual != expected:
        kind = "truncated" if actual < expected else "has trailing bytes"
        raise IdxError(f"{path}: {kind}: header {shape} needs {expected} data bytes, file has {actual}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape).copy()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays (uint8 images n x 28 x 28, uint8 labels) and the files' SHA-256."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    sha256: dict[str, str]


def default_data_dir() -> Path:
    """`$MNIST_DATA_DIR`, else `./data/mnist`."""
    return Path(os.environ.get(DATA_DIR_ENV, "data/mnist"))


def _find(data_dir: Path, gz_name: str) -> Path:
    for candidate in (data_dir / gz_name, data_dir / gz_name.removesuffix(".gz")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"{data_dir / gz_name} not found (nor uncompressed); set {DATA_DIR_ENV} "
        "or run `mnist-train --download`"
    )


def load_mnist(data_dir: str | os.PathLike[str] | None = None) -> Mnist:
    """Load MNIST from `data_dir` (default: `default_data_dir()`), gzipped or raw files."""
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    arrays: dict[str, np.ndarray] = {}
    digests: dict[str, str] = {}
    for key, name in MNIST_FILES.items():
        path = _find(root, name)
        arrays[key] = read_idx(path, expected_ndim=3 if key.endswith("images") else 1)
        digests[path.name] = sha256_file(path)
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise IdxError(f"{root}: {split} has {n_img} images but {n_lab} labels")
        if arrays[f"{split}_labels"].max(initial=0) > 9:
            raise IdxError(f"{root}: {split} labels outside 0-9")
    return Mnist(sha256=digests, **arrays)


def train_val_split(
    n: int, val_size: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of a fixed, seeded split of `n` training examples."""
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be in 1..{n - 1}, got {val_size}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])
