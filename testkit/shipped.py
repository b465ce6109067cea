"""The shipped artifacts as tests and benchmarks see them: a copy of the versions git tracks.

A local training run writes the next version into `weights/` (git ignores it, see .gitignore), and
a server started on `weights/` would list it, and serve it as `latest`. Tests are written for the
shipped versions, so they read this copy instead; outside a git checkout every version is copied.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = REPO_ROOT / "weights"


def _tracked() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", "weights"], cwd=REPO_ROOT, check=True,
                                capture_output=True, timeout=30).stdout.decode().split("\0")
    except (OSError, subprocess.SubprocessError):
        return sorted(WEIGHTS.glob("*/*.npz"))
    return [REPO_ROOT / name for name in listed if name.endswith(".npz")] or sorted(WEIGHTS.glob("*/*.npz"))


@cache
def shipped_weights() -> Path:
    """A folder holding exactly the shipped `<model>/<version>.npz` files (made once per process)."""
    root = Path(tempfile.mkdtemp(prefix="mnist-shipped-weights-"))
    atexit.register(shutil.rmtree, root, True)
    for path in _tracked():
        target = root / path.relative_to(WEIGHTS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return root


def newest_shipped(model: str) -> int:
    """The newest shipped version of `model`: what a server with no served-versions record serves."""
    versions = [int(path.stem) for path in (shipped_weights() / model).glob("*.npz")]
    if not versions:
        raise LookupError(f"no shipped version of {model!r} in {shipped_weights()}")
    return max(versions)


def served_ref(model: str) -> dict[str, object]:
    """The `model` reference of an answer from the newest shipped version of `model`."""
    return {"name": model, "version": newest_shipped(model)}
