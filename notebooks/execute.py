"""Run a notebook top to bottom in a fresh kernel and save it with its outputs.

    python notebooks/execute.py                        # notebooks/walkthrough.ipynb, in place
    python notebooks/execute.py NOTEBOOK --output OUT  # leave NOTEBOOK as it is, write OUT

The kernel starts in the notebook's folder and inherits this environment (MNIST_DATA_DIR).
Stream outputs are coalesced with carriage returns applied, so a progress bar is saved as its
final state rather than every redraw, and one left blank (a bar that cleared itself) is dropped.
No timing metadata is recorded, so re-running changes only what the run itself changed.
Exits 1, naming the cell, if any cell raises.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

DEFAULT = Path(__file__).resolve().parent / "walkthrough.ipynb"


def execute(notebook: Path, output: Path, timeout: int = 600) -> None:
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", coalesce_streams=True,
                            record_timing=False,
                            resources={"metadata": {"path": str(notebook.resolve().parent)}})
    client.execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs
                            if not (out.output_type == "stream" and not out.text.strip())]
    nbformat.write(nb, output)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Execute a notebook and save it with its outputs.")
    p.add_argument("notebook", type=Path, nargs="?", default=DEFAULT)
    p.add_argument("--output", type=Path, default=None, help="default: overwrite NOTEBOOK")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = p.parse_args(argv)
    try:
        execute(args.notebook, args.output or args.notebook, args.timeout)
    except CellExecutionError as exc:
        print(f"{args.notebook}: a cell failed:\n{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
