"""The pure parts of benchmarks/peers/run.py (no MLServer, no torch, no wrk needed): reading wrk's
`--latency` output, the target verdicts, and the reference app answering as `InferenceModel` does."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import pytest

from neuralnet.artifact import load_artifact
from neuralnet.inference import InferenceModel
from testkit.server import free_port, running_command

REPO_ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO_ROOT / "benchmarks" / "peers"

# Real wrk 4.x output (`wrk -t2 -c8 -d1s --latency -s post.lua`), every answer a 400.
WRK_NON2XX = """\
Running 1s test @ http://127.0.0.1:49191/v1/predict
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.17ms  237.39us   4.44ms   90.30%
    Req/Sec     3.45k    95.49     3.62k    77.27%
  Latency Distribution
     50%    1.15ms
     75%    1.18ms
     90%    1.24ms
     99%    1.94ms
  7562 requests in 1.10s, 1.41MB read
  Non-2xx or 3xx responses: 7562
Requests/sec:   6875.90
Transfer/sec:      1.29MB
"""

# Same format with socket errors and latencies in us and s.
WRK_SOCKET_ERRORS = """\
Running 12s test @ http://127.0.0.1:8000/v2/models/mnist-mlp/infer
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   251.02ms  300.11ms   1.98s    88.12%
    Req/Sec    70.13     20.01   120.00     70.00%
  Latency Distribution
     50%  850.00us
     75%  200.00ms
     90%  600.00ms
     99%    1.50s
  1683 requests in 12.01s, 25.31MB read
  Socket errors: connect 0, read 2, write 1, timeout 4
Requests/sec:    140.13
Transfer/sec:      2.11MB
"""


@pytest.fixture(scope="module")
def run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peers_run", PEERS_DIR / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["peers_run"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_parse_wrk_reads_rate_percentiles_and_non2xx(run: ModuleType) -> None:
    r = run.parse_wrk(WRK_NON2XX)
    assert r.requests == 7562 and r.seconds == pytest.approx(1.10)
    assert r.rps == pytest.approx(6875.90)
    assert r.p50_ms == pytest.approx(1.15) and r.p99_ms == pytest.approx(1.94)
    assert r.non2xx == 7562 and r.socket_errors == 0 and r.errors == 7562
    assert r.ok_rps == 0  # no successful answer: nothing counts


def test_parse_wrk_reads_socket_errors_and_units(run: ModuleType) -> None:
    r = run.parse_wrk(WRK_SOCKET_ERRORS)
    assert r.p50_ms == pytest.approx(0.85) and r.p99_ms == pytest.approx(1500.0)
    assert r.non2xx == 0 and r.socket_errors == 7 and r.errors == 7
    assert r.ok_rps == pytest.approx(1683 / 12.01)


def test_parse_wrk_refuses_output_without_latency_distribution(run: ModuleType) -> None:
    without = "\n".join(line for line in WRK_NON2XX.splitlines() if "%    " not in line)
    with pytest.raises(ValueError, match="not wrk --latency output"):
        run.parse_wrk(without)


def _row(run: ModuleType, server: str, load: str, endpoint: str, rps: float, p50: float = 5.0,
         p99: float = 10.0, workers: int = 1) -> object:
    images = 256 if load.startswith("batch") else 1
    result = run.WrkResult(requests=int(rps * 10), seconds=10.0, rps=rps, p50_ms=p50, p99_ms=p99,
                           non2xx=0, socket_errors=0)
    return run.Row(server, workers, load, endpoint, images, result)


def test_targets_verdicts(run: ModuleType) -> None:
    ml, ref, ours = run.MLSERVER_DEFAULT, run.REFERENCE, run.MNIST_SERVE
    rows = [
        _row(run, ml, "single", "v2 JSON", 1000),
        _row(run, ml, "batch-256", "v2 JSON", 50),  # 12,800 img/s
        _row(run, ref, "single", "/v1 JSON", 3000),
        _row(run, ours, "single", "/v1 JSON", 2500, p50=5.0, p99=14.0),  # 2.5x ML, 0.83x ref; p99 2.8x
        _row(run, ours, "single", "v2 JSON", 1900, p50=5.0, p99=16.0),  # 1.9x ML: missed; p99 3.2x: missed
        _row(run, ours, "batch-256", "/v1 JSON", 120),  # 2.4x ML
        _row(run, ours, "batch-256", "v2 JSON", 90),  # 1.8x ML: missed
        _row(run, ours, "batch-256", "v2 binary", 300),  # 76,800 img/s vs forward 100,000: 0.768
        _row(run, ml, "single", "gRPC raw", 800),
        _row(run, ours, "single", "gRPC raw", 2600, p50=4.0, p99=10.0),  # 3.25x ML, 1.04x /v1; p99 2.5x
        _row(run, ours, "batch-256", "gRPC raw", 250),  # 64,000 img/s vs forward 100,000: missed
    ]
    got = {t.name.split(": ", 1)[1]: t for t in run.targets(rows, 100_000.0, 32)}
    verdicts = {name: t.verdict for name, t in got.items()}
    assert verdicts == {
        "/v1/predict single req/s ÷ MLServer defaults (v2 JSON single)": "met",
        "/v1/predict single req/s ÷ reference app": "met",
        "v2 JSON single req/s ÷ MLServer defaults": "missed",
        "/v1/predict/batch 256 img/s ÷ MLServer defaults (v2 JSON 256)": "met",
        "v2 JSON 256 img/s ÷ MLServer defaults": "missed",
        "v2 binary 256 img/s ÷ NumPy forward at 256 (in process, 1 BLAS thread)": "met",
        "/v1 JSON single p99 ÷ p50 at 32 connections": "met",
        "v2 JSON single p99 ÷ p50 at 32 connections": "missed",
        "v2 binary single p99 ÷ p50 at 32 connections": "not measured",
        "gRPC single req/s ÷ MLServer defaults gRPC single": "met",
        "gRPC 256 img/s ÷ NumPy forward at 256 (in process, 1 BLAS thread)": "missed",
        "gRPC single req/s ÷ its /v1/predict single": "met",
        "gRPC raw single p99 ÷ p50 at 32 connections": "met",
    }
    assert got["gRPC single req/s ÷ MLServer defaults gRPC single"].value == pytest.approx(2600 / 800)
    assert got["/v1/predict single req/s ÷ reference app"].value == pytest.approx(2500 / 3000)
    assert got["v2 binary 256 img/s ÷ NumPy forward at 256 (in process, 1 BLAS thread)"].value == \
        pytest.approx(0.768)


def test_targets_without_the_peers_are_not_measured(run: ModuleType) -> None:
    rows = [_row(run, run.MNIST_SERVE, "single", "/v1 JSON", 2500, workers=2)]
    items = run.targets(rows, None, 32)
    assert all(t.name.startswith("mnist-serve x2") for t in items)
    assert {t.verdict for t in items if "p99" not in t.name} == {"not measured"}


def test_reference_app_answers_as_inference_model(run: ModuleType, example_digit: dict[str, object],
                                                  tmp_path: Path) -> None:
    artifact = REPO_ROOT / "weights" / "mnist-mlp" / "1.npz"
    model = InferenceModel.from_artifact(load_artifact(artifact))
    pixels = np.asarray(example_digit["pixels"], dtype=np.float32)
    expected = model.predict_proba(pixels.reshape(1, 784))[0]
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(PEERS_DIR), "reference_app:app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    # the machine's environment as it is (the benchmark's BLAS overrides are not changed in tests)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(PEERS_DIR)]),
           "PEERS_ARTIFACT": str(artifact)}
    with running_command(command, port=port, env=env, cwd=REPO_ROOT, log_dir=tmp_path) as server, \
            httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client:
        single = client.post("/v1/predict", content=json.dumps({"pixels": example_digit["pixels"]}))
        batch = client.post("/v1/predict/batch",
                            json={"images": [pixels.reshape(-1).tolist()] * 2})
    assert single.status_code == 200, single.text
    answer = single.json()
    assert answer["digit"] == example_digit["label"] == int(np.argmax(expected))
    assert np.max(np.abs(np.asarray(answer["probabilities"]) - expected)) <= 1e-6
    assert answer["probability"] == pytest.approx(float(expected.max()))
    assert batch.status_code == 200, batch.text
    for prediction in batch.json()["predictions"]:
        assert np.max(np.abs(np.asarray(prediction["probabilities"]) - expected)) <= 1e-6
