"""benchmarks/bench_explain.py, briefly, against a real server: a row per model and route."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_explain import main  # noqa: E402


@pytest.mark.mnist
@pytest.mark.slow
def test_prints_latency_and_completeness_per_model_and_route(mnist_data_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_data_dir))
    main(["--images", "4", "--models", "mnist-mlp"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| mnist-mlp")]
    assert [row.split("|")[2].strip() for row in rows] == ["/v1/predict", "/v1/explain"]
    p50, p99 = map(float, rows[1].split("|")[3:5])
    assert 0 < p50 <= p99
    assert re.search(r"\d+\.\d+ % / \d+\.\d+ %", rows[1]) and re.search(r"\| (\d+: \d+(, )?)+ \|", rows[1])
