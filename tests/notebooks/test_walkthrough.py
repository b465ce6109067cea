"""notebooks/walkthrough.ipynb: runs top to bottom on real MNIST, and is committed with its outputs."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO_ROOT / "notebooks" / "walkthrough.ipynb"
EXECUTE = REPO_ROOT / "notebooks" / "execute.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = 9  # digits and normalisation (1), learning curves (3), 4 in section 4, answers (5), saliency (6)
MAX_BYTES = 2_000_000
RUN_TIMEOUT = 900  # seconds; the default settings take under 3 minutes on the project's 2-core machine


def code_cells(nb: Any) -> list[Any]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def pngs(nb: Any) -> list[bytes]:
    return [base64.b64decode(out.data["image/png"]) for cell in code_cells(nb) for out in cell.outputs
            if "data" in out and "image/png" in out.data]


def assert_executed_cleanly(nb: Any) -> None:
    """Every code cell ran once, in order, in one kernel, without an error output."""
    cells = code_cells(nb)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    errors = [out for cell in cells for out in cell.outputs if out.output_type == "error"]
    assert errors == [], errors
    images = pngs(nb)
    assert len(images) == FIGURES
    assert all(image.startswith(PNG_MAGIC) for image in images)


@pytest.mark.mnist
@pytest.mark.slow
def test_notebook_runs_top_to_bottom(mnist_data_dir: Path, tmp_path: Path) -> None:
    committed = NOTEBOOK.read_bytes()
    out = tmp_path / "walkthrough.ipynb"
    env = {**os.environ, "MNIST_DATA_DIR": str(mnist_data_dir.resolve())}
    # Its own session, so a timeout can stop the kernel and the server the notebook starts too.
    proc = subprocess.Popen([sys.executable, str(EXECUTE), str(NOTEBOOK), "--output", str(out)],
                            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the notebook did not finish in {RUN_TIMEOUT} s")
    assert proc.returncode == 0, f"{stdout}\n{stderr}"
    assert_executed_cleanly(nbformat.read(out, as_version=4))
    assert NOTEBOOK.read_bytes() == committed  # running it in CI leaves the committed file alone


def test_committed_notebook_shows_its_outputs() -> None:
    # What a code-hosting page shows: the outputs of one clean run, pictures included.
    assert NOTEBOOK.stat().st_size < MAX_BYTES
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert_executed_cleanly(nb)
    first = code_cells(nb)[0].source
    assert first.splitlines()[-1] == "EPOCHS = 3"  # the one setting, at the top, at its default
