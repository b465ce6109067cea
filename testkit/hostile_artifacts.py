"""Artifacts an attacker (or a broken tool) might leave in the weights directory, built from a real
one: what tests/service/models/test_hostile_artifacts.py and benchmarks/bench_artifacts.py load."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neuralnet.artifact import METADATA_KEY, load_artifact

ZEROS = bytes(1 << 20)


def rewritten(source: Path, target: Path, metadata: Callable[[dict[str, Any]], None] | None = None,
              arrays: Callable[[dict[str, np.ndarray]], None] | None = None) -> Path:
    """`source` written again at `target` (no checks) after `metadata` and `arrays` changed it."""
    artifact = load_artifact(source)
    meta, arrs = json.loads(json.dumps(artifact.metadata)), dict(artifact.arrays)
    if metadata is not None:
        metadata(meta)
    if arrays is not None:
        arrays(arrs)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {**arrs, METADATA_KEY: np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    with open(target, "wb") as fh:
        np.savez(fh, **payload)  # type: ignore[arg-type]
    return target


def with_zip_bomb(source: Path, target: Path, gib: float, member: str = "padding.npy") -> Path:
    """`source` with a deflated member `member` (added, or in place of the one of that name)
    holding `gib` GiB of zeros: a few MB on disk."""
    target.parent.mkdir(parents=True, exist_ok=True)
    entry = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
    entry.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename != member:
                new.writestr(info, old.read(info))
        with new.open(entry, "w", force_zip64=True) as out:
            for _ in range(int(gib * 1024)):
                out.write(ZEROS)
    return target


def with_header_declaring(source: Path, target: Path, key: str, shape: tuple[int, ...],
                          dtype: str = "<f4") -> Path:
    """`source` with the member `key` replaced by an .npy header declaring `shape` and no data."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    text = repr(header).encode("latin1")
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            new.writestr(info.filename, npy if info.filename == f"{key}.npy" else old.read(info))
    return target
