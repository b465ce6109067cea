"""Build IDX files (the MNIST format) from uint8 arrays, for tests."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0, 0, type 0x08, ndim, big-endian uint32 sizes, data."""
    if array.dtype != np.uint8:
        raise TypeError(f"only uint8 arrays are supported, got {array.dtype}")
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> bytes:
    """Write `array` as IDX to `path`, gzipped (mtime 0, so reproducible) if it ends in .gz.

    Returns the bytes written.
    """
    data = idx_bytes(array)
    if os.fspath(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as fh:
        fh.write(data)
    return data
