"""Where the tests find MNIST, seen from outside: one test that needs it, run by pytest in a
subprocess, skips with one clear reason where the data is absent, and fails instead where the data
was asked for (MNIST_DATA_DIR naming a folder, or MNIST_DATA_REQUIRED=1 as CI sets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
NEEDS_MNIST = "tests/training/test_train.py::test_nan_loss_stops_training_with_a_clear_error"


def run(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("MNIST_DATA_DIR", "MNIST_DATA_REQUIRED")}
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", NEEDS_MNIST]
    return subprocess.run(command,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env={**clean, **env})


def test_a_folder_named_but_missing_fails(tmp_path: Path) -> None:
    result = run(MNIST_DATA_DIR=str(tmp_path / "nowhere"))
    assert result.returncode == 1 and "1 error" in result.stdout  # a fixture failing: an error
    assert f"MNIST not found in {tmp_path / 'nowhere'}: run `make data`" in result.stdout


def test_absent_data_skips_with_its_reason_and_fails_where_required() -> None:
    if (REPO_ROOT / "data" / "mnist").exists():
        pytest.skip("data/mnist exists here: the skip cannot be shown")
    skipped = run()
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout
    assert "MNIST not found in" in skipped.stdout and "make data" in skipped.stdout
    required = run(MNIST_DATA_REQUIRED="1")
    assert required.returncode == 1 and "1 error" in required.stdout
