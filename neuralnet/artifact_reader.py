"""Reading an artifact's archive within a budget: nothing is decompressed before the zip directory
and each member's .npy header have been checked against what the metadata's architecture needs.

A zip member says in the directory how large it is once decompressed, and zipfile never gives
more than that; an .npy header says the array's shape and dtype before its data. So the cost of
reading a member is known in advance and compared with the budget: a member that is not a
parameter of the architecture (a zip bomb hides in one), a header declaring another shape, or a
directory far larger than an artifact needs is refused without being read. Arrays are read with
`np.load(..., allow_pickle=False)`.
"""

from __future__ import annotations

import math
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from neuralnet.artifact_metadata import MAX_LAYERS, MAX_PARAMETERS, ArtifactError

METADATA_MEMBER = "__metadata__.npy"
MAX_METADATA_BYTES = 1 << 20
MAX_ENTRIES = 2 * MAX_LAYERS + 1  # two parameters per layer at most, and the metadata
MAX_DIRECTORY_BYTES = MAX_ENTRIES * 256
NPY_HEADER_BYTES = 10_000  # numpy's own limit on the header it parses (max_header_size)
MAX_FILE_BYTES = MAX_PARAMETERS * 8 + MAX_METADATA_BYTES + (1 << 20)  # float64 at most
END_RECORD = b"PK\x05\x06"
# what a member may fail with while it is opened, decompressed or parsed (never decoded as pickle)
# (numpy parses an .npy header with tokenize: a malformed one raises TokenError)
READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
               NotImplementedError, zlib.error, struct.error, KeyError, SyntaxError, tokenize.TokenError)


def _directory_bounds(fh: IO[bytes], size: int, path: Path) -> None:
    """Refuse an archive whose directory says more entries or bytes than an artifact can need,
    from its end record alone (zipfile would otherwise build an object per entry first)."""
    tail_size = min(size, 22 + 0xFFFF)  # the end record, and a comment of at most 64 KiB
    fh.seek(size - tail_size)
    tail = fh.read(tail_size)
    at = tail.rfind(END_RECORD)
    if at < 0 or len(tail) - at < 22:
        raise ArtifactError(f"{path}: not a valid .npz file (no zip directory)")
    entries, directory_bytes = struct.unpack("<HI", tail[at + 10 : at + 16])
    if entries > MAX_ENTRIES or directory_bytes > MAX_DIRECTORY_BYTES:
        raise ArtifactError(f"{path}: the zip directory lists {entries} entries in {directory_bytes} "
                            f"bytes; an artifact has at most {MAX_ENTRIES}")


def open_archive(fh: IO[bytes], size: int, path: Path) -> zipfile.ZipFile:
    """The archive, after its size and directory are checked: plain or deflated `.npy` members,
    each name once, none encrypted."""
    if size > MAX_FILE_BYTES:
        raise ArtifactError(f"{path}: {size} bytes, more than an artifact may have ({MAX_FILE_BYTES})")
    _directory_bounds(fh, size, path)
    try:
        archive = zipfile.ZipFile(fh)
    except READ_ERRORS as exc:
        raise ArtifactError(f"{path}: not a valid .npz file ({exc})") from None
    names = [info.filename for info in archive.infolist()]
    for info in archive.infolist():
        if names.count(info.filename) > 1:
            raise ArtifactError(f"{path}: the entry {info.filename!r} appears more than once")
        if not info.filename.endswith(".npy"):
            raise ArtifactError(f"{path}: unexpected entry {info.filename!r} (an artifact holds .npy arrays)")
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ArtifactError(f"{path}: the entry {info.filename!r} is encrypted or compressed in a way "
                                "artifacts are not (stored or deflate)")
    return archive


def npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
               path: Path) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """(shape, dtype) a member's .npy header declares, read without its data."""
    npy = np.lib.format
    try:
        with archive.open(info) as member:
            major, _ = npy.read_magic(member)
            if major == 1:
                shape, _, dtype = npy.read_array_header_1_0(member, max_header_size=NPY_HEADER_BYTES)
            elif major in (2, 3):
                shape, _, dtype = npy.read_array_header_2_0(member, max_header_size=NPY_HEADER_BYTES)
            else:
                raise ValueError(f"unknown .npy format version {major}")
    except ArtifactError:
        raise
    except READ_ERRORS as exc:
        raise ArtifactError(f"{path}: entry {info.filename!r} is not a valid .npy array ({exc})") from None
    return tuple(shape), dtype


def member_budget(shape: tuple[int, ...]) -> int:
    """The most bytes a member holding an array of `shape` needs: its header and float64 data."""
    return NPY_HEADER_BYTES + 16 + math.prod(shape) * 8


def check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple[int, ...], path: Path,
                 kind: str = "f") -> None:
    """A member declares, in the directory and in its header, exactly `shape` of a float (kind
    "f") or uint8 (kind "u") array, and no more bytes than that takes."""
    key = info.filename[: -len(".npy")]
    budget = member_budget(shape) if kind == "f" else NPY_HEADER_BYTES + 16 + MAX_METADATA_BYTES
    if info.file_size > budget:
        raise ArtifactError(f"{path}: {key} takes {info.file_size} bytes decompressed, more than an array "
                            f"of shape {shape} needs ({budget})")
    declared, dtype = npy_header(archive, info, path)
    if kind == "u":
        if dtype != np.uint8 or len(declared) != 1 or declared[0] > MAX_METADATA_BYTES:
            raise ArtifactError(f"{path}: {key} must be at most {MAX_METADATA_BYTES} uint8 JSON bytes, "
                                f"got {dtype} {declared}")
        return
    if declared != shape:
        raise ArtifactError(f"{path}: {key} has shape {declared}, architecture says {shape}")
    if dtype.kind != "f" or dtype.itemsize > 8:
        raise ArtifactError(f"{path}: {key} has dtype {dtype}, expected float")


def read_arrays(fh: IO[bytes], keys: list[str], path: Path) -> dict[str, np.ndarray]:
    """The members `keys` (checked beforehand), read with np.load; never unpickles."""
    fh.seek(0)
    try:
        with np.load(fh, allow_pickle=False) as npz:
            return {key: npz[key] for key in keys}
    except ArtifactError:
        raise
    except READ_ERRORS as exc:
        if "Object arrays" in str(exc):
            raise ArtifactError(f"{path}: contains pickled objects, refused") from None
        raise ArtifactError(f"{path}: not a valid .npz file ({exc})") from None
