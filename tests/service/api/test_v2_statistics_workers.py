"""Triton's statistics extension on a real server with two workers: the totals are the same
whichever worker answers the call, since they come from every worker's counters."""

from __future__ import annotations

import httpx
import pytest

from testkit.server import running_server
from testkit.shipped import shipped_weights

pytestmark = pytest.mark.slow
MODEL = "mnist-mlp"
REQUESTS = 20


def test_every_worker_reports_the_same_totals(tmp_path_factory: pytest.TempPathFactory) -> None:
    body = {"inputs": [{"name": "images", "shape": [2, 784], "datatype": "UINT8", "data": [0] * 1568}]}
    with running_server("--weights-dir", str(shipped_weights()), "--model", MODEL, "--workers", "2",
                        log_dir=tmp_path_factory.mktemp("stats-workers")) as server:
        for _ in range(REQUESTS):  # a new connection each: the kernel spreads them over the workers
            response = httpx.post(f"{server.base_url}/v2/models/{MODEL}/infer", json=body, trust_env=False,
                                  headers={"connection": "close"}, timeout=30)
            assert response.status_code == 200, response.text
        answers = set()
        for _ in range(12):
            stats = httpx.get(f"{server.base_url}/v2/models/{MODEL}/stats", trust_env=False,
                              headers={"connection": "close"}, timeout=30).json()
            (entry,) = stats["model_stats"]
            answers.add((entry["inference_count"], entry["execution_count"],
                         entry["inference_stats"]["success"]["count"]))
    assert answers == {(2 * REQUESTS, REQUESTS, REQUESTS)}
