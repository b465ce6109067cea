"""benchmarks/explain_rules.py, briefly: a row per integration rule, on digits where they differ."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from explain_rules import main  # noqa: E402


@pytest.mark.mnist
def test_prints_both_rules_and_the_halving_one_is_within_tolerance(
        mnist_data_dir: Path, weights_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_data_dir))
    # the first 3 test digits: digit 2 is one that 256 doubled steps leave 3 % off on CNN v1
    main(["--artifact", str(weights_dir / "mnist-cnn" / "1.npz"), "--images", "3"])
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1]
            for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "ms" not in line
            and "---" not in line}
    assert set(rows) == {"doubling", "halving the worst"}
    assert rows["halving the worst"][2].strip() == "100.0%"
    assert rows["doubling"][2].strip() != "100.0%"
