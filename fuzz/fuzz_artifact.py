"""Artifact files (neuralnet/artifact.py): any bytes give a checked artifact or an ArtifactError,
within a bounded time and memory; never another exception."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["neuralnet"]):
    from neuralnet.artifact import ArtifactError, load_artifact, read_metadata

FILE = Path(tempfile.mkdtemp(prefix="fuzz-artifact-")) / "1.npz"


def test_one_input(data: bytes) -> None:
    FILE.write_bytes(data)
    for read in (read_metadata, load_artifact):
        with contextlib.suppress(ArtifactError):
            read(FILE)


if __name__ == "__main__":
    from common import run

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run(test_one_input)
