"""benchmarks/ood_eval.py on the shipped MLP, briefly: one row per set plus the model's own
fooling noise, each cell an AUROC and an FPR in percent, and the tables written where asked."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from ood_eval import METHODS, main  # noqa: E402


@pytest.mark.mnist
def test_prints_a_row_per_set_with_auroc_and_fpr(mnist_data_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ood.md"
    assert main(["--artifacts", str(REPO_ROOT / "weights/mnist-mlp/1.npz"), "--data-dir", str(mnist_data_dir),
                 "--size", "16", "--fit-size", "2000", "--sets", "uniform", "letters",
                 "--markdown", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy 99.23 %" in printed
    rows = {line.split("|")[1].strip(): line for line in printed.splitlines() if line.startswith("| ")}
    assert set(rows) == {"set", "---", "uniform", "letters", "fooling"}
    for name in ("uniform", "letters", "fooling"):
        cells = re.findall(r"(\d+\.\d+) / (\d+\.\d+)", rows[name])
        assert len(cells) == len(METHODS)
        assert all(0 <= float(a) <= 100 and 0 <= float(f) <= 100 for a, f in cells)
    assert out.read_text().count("| uniform |") == 1
