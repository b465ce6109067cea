"""The weights artifact: the one contract between `training/` and `service/` (NumPy only).

An artifact is one immutable `.npz` file, `<weights_dir>/<model-name>/<version>.npz`, holding
- `__metadata__`: UTF-8 JSON bytes as a uint8 array (so no pickle is ever needed), and
- one float32 array per parameter, named `layers.<index>.<param>` (e.g. `layers.1.W`).

See docs/artifact-format.md for the full specification. Which layer types exist, and the
parameter shapes each implies, come from the layer table (`neuralnet.layers.ARTIFACT_LAYERS`).
`read_metadata` reads the metadata alone, without the arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from neuralnet.artifact_metadata import MODEL_NAME, ArtifactError, check_metadata
from neuralnet.artifact_reader import METADATA_MEMBER, check_member, open_archive, read_arrays

FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = frozenset({1})
METADATA_KEY = "__metadata__"
VERSION_FILE = re.compile(r"^([1-9][0-9]*)\.npz$")
__all__ = ["MODEL_NAME", "ArtifactError"]  # defined beside the metadata checks, used from here


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: its path, metadata, parameter arrays (`layers.<i>.<name>`) and the
    SHA-256 of the file's bytes (read once, for both)."""

    path: Path
    metadata: dict[str, Any]
    arrays: dict[str, np.ndarray]
    sha256: str = ""

    @property
    def name(self) -> str:
        return str(self.metadata["model_name"])

    @property
    def version(self) -> int:
        return int(self.metadata["version"])

    def layer_params(self, index: int) -> dict[str, np.ndarray]:
        prefix = f"layers.{index}."
        return {k[len(prefix) :]: v for k, v in self.arrays.items() if k.startswith(prefix)}


def param_key(layer_index: int, name: str) -> str:
    return f"layers.{layer_index}.{name}"


def validate(metadata: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
    """Raise ArtifactError unless metadata is a known format and arrays match the architecture."""
    try:
        shapes = check_metadata(metadata, SUPPORTED_FORMAT_VERSIONS)
    except ArtifactError as exc:
        raise ArtifactError(f"{where}: {exc}") from None
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    if missing or extra:
        raise ArtifactError(f"{where}: arrays missing {missing} / unexpected {extra}")
    for key, shape in shapes.items():
        if arrays[key].shape != shape:
            raise ArtifactError(
                f"{where}: {key} has shape {arrays[key].shape}, architecture says {shape}"
            )
        if not np.issubdtype(arrays[key].dtype, np.floating):
            raise ArtifactError(f"{where}: {key} has dtype {arrays[key].dtype}, expected float")
        if not np.isfinite(arrays[key]).all():
            raise ArtifactError(f"{where}: {key} holds NaN or infinite values")


def _check_zip(path: Path) -> None:
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise ArtifactError(f"{path}: not a valid .npz file (not a zip archive)")


def _metadata_of(archive: zipfile.ZipFile, fh: IO[bytes], path: Path) -> dict[str, Any]:
    try:
        info = archive.getinfo(METADATA_MEMBER)
    except KeyError:
        raise ArtifactError(f"{path}: no {METADATA_KEY} entry (uint8 JSON bytes)") from None
    check_member(archive, info, (), path, kind="u")
    raw = read_arrays(fh, [METADATA_KEY], path)[METADATA_KEY]
    try:
        metadata = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ArtifactError(f"{path}: metadata is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{path}: metadata is not a JSON object")
    return metadata


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An artifact's metadata alone: the parameter arrays are neither read nor checked."""
    path = Path(path)
    _check_zip(path)
    with open(path, "rb") as fh, open_archive(fh, os.fstat(fh.fileno()).st_size, path) as archive:
        return _metadata_of(archive, fh, path)


def load_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Read and check an artifact; never unpickles. Raises ArtifactError naming the file.

    Within a budget (neuralnet/artifact_reader.py): the metadata first, then every member's size
    and .npy header against the architecture's shapes; only then is anything else decompressed.
    """
    path = Path(path)
    _check_zip(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        with open_archive(fh, size, path) as archive:
            metadata = _metadata_of(archive, fh, path)
            try:
                shapes = check_metadata(metadata, SUPPORTED_FORMAT_VERSIONS)
            except ArtifactError as exc:
                raise ArtifactError(f"{path}: {exc}") from None
            members = {info.filename[: -len(".npy")]: info for info in archive.infolist()}
            members.pop(METADATA_KEY)
            missing, extra = sorted(set(shapes) - set(members)), sorted(set(members) - set(shapes))
            if missing or extra:
                raise ArtifactError(f"{path}: arrays missing {missing} / unexpected {extra}")
            for key, shape in shapes.items():
                check_member(archive, members[key], shape, path)
        fh.seek(0)
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        arrays = read_arrays(fh, list(shapes), path)
    validate(metadata, arrays, str(path))  # finite values, and the shapes as read
    return Artifact(path=path, metadata=metadata, arrays=arrays, sha256=digest)


def list_versions(model_dir: str | os.PathLike[str]) -> list[int]:
    """Sorted integer versions present in a model directory (`<n>.npz` files)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    found = (VERSION_FILE.match(p.name) for p in model_dir.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def save_artifact(
    weights_dir: str | os.PathLike[str],
    metadata: dict[str, Any],
    arrays: dict[str, np.ndarray],
    version: int | None = None,
) -> Path:
    """Write `<weights_dir>/<model_name>/<version>.npz` atomically; never overwrite.

    With `version=None` the next free integer (max + 1) is taken. `metadata` gets
    `format_version` and `version` filled in. The file is written to a temporary name in the
    same directory and hard-linked into place, which fails rather than replace an existing one.
    """
    name = str(metadata["model_name"])
    if not MODEL_NAME.match(name):
        raise ArtifactError(f"model name {name!r} must match {MODEL_NAME.pattern}")
    model_dir = Path(weights_dir) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    while True:
        number = version if version is not None else (max(list_versions(model_dir), default=0) + 1)
        meta = {**metadata, "format_version": FORMAT_VERSION, "version": number}
        validate(meta, arrays, f"{name} v{number}")
        target = model_dir / f"{number}.npz"
        if target.exists():
            if version is not None:
                raise ArtifactError(f"{target}: version {number} exists; versions are immutable")
            continue
        payload = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        payload[METADATA_KEY] = np.frombuffer(
            json.dumps(meta, indent=1, sort_keys=True).encode("utf-8"), dtype=np.uint8
        )
        fd, tmp_name = tempfile.mkstemp(dir=model_dir, prefix=f".{number}.", suffix=".tmp")
        try:
            os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; artifacts are read by other users
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **payload)  # type: ignore[arg-type]
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp_name, target)  # atomic, and refuses an existing target
            except FileExistsError:
                if version is not None:
                    raise ArtifactError(
                        f"{target}: version {number} exists; versions are immutable"
                    ) from None
                continue  # another writer took this number; try the next
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        return target
