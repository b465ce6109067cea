"""The peers benchmark's environments (standard library only, so any Python can import it).

- `clean_blas_env`: the environment without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE. Some machines set
  them as a workaround for old OpenBLAS builds; they force a slower kernel on a current NumPy, so every
  benchmark process runs without them (`reexec_without_blas_overrides` restarts the script if needed).
- `ensure_peers_venv`: `benchmarks/peers/.venv` with requirements.txt installed (MLServer, torch),
  made with `python -m venv` + `pip install -r`; reinstalled when requirements.txt changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent
REPO_ROOT = PEERS_DIR.parent.parent
PEERS_VENV = PEERS_DIR / ".venv"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
REQUIREMENTS = PEERS_DIR / "requirements.txt"
MARKER = PEERS_VENV / ".installed"
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def clean_blas_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) less the OpenBLAS kernel overrides."""
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if k not in BLAS_OVERRIDES}


def reexec_without_blas_overrides(script: str, argv: list[str], python: str | None = None) -> None:
    """Restart `script argv` (with `python`, default this one) without the overrides, if any is set."""
    overrides = [k for k in BLAS_OVERRIDES if k in os.environ]
    interpreter = python or sys.executable
    if not overrides and interpreter == sys.executable:
        return
    if overrides:
        print(f"[peers] re-running without {', '.join(overrides)} (they force an old OpenBLAS kernel)",
              file=sys.stderr, flush=True)
    os.execve(interpreter, [interpreter, script, *argv], clean_blas_env())


def _requirements_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def peers_venv_ready() -> bool:
    return PEERS_PYTHON.exists() and MARKER.exists() and MARKER.read_text().strip() == _requirements_digest()


def ensure_peers_venv(force: bool = False, python: str | None = None) -> Path:
    """Create or update benchmarks/peers/.venv from requirements.txt; its python."""
    if peers_venv_ready() and not force:
        return PEERS_PYTHON
    base = python or sys.executable
    print(f"[peers] setting up {PEERS_VENV} (pip install -r {REQUIREMENTS.name}) ...", file=sys.stderr,
          flush=True)
    if not PEERS_PYTHON.exists():
        subprocess.run([base, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run([str(PEERS_PYTHON), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
                   check=True, env=clean_blas_env())
    MARKER.write_text(_requirements_digest() + "\n")
    return PEERS_PYTHON
