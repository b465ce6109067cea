"""End to end: the real `mnist-serve` process on 127.0.0.1, real MNIST digits, the shipped weights."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from testkit.server import REPO_ROOT, free_port, running_server, serve_command
from testkit.shipped import served_ref, shipped_weights
from training.data import Mnist

WEIGHTS = shipped_weights()
N_IMAGES = 100
REQUEST_ID = "e2e-request-1"


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from the Prometheus text format."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def json_log_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            lines.append(entry)
    return lines


@pytest.mark.mnist
@pytest.mark.slow
@pytest.mark.parametrize("model", ["mnist-mlp", "mnist-cnn"])
def test_real_server_predicts_real_digits(mnist: Mnist, model: str, tmp_path: Path) -> None:
    images = mnist.test_images[:N_IMAGES]
    labels = mnist.test_labels[:N_IMAGES]
    with running_server("--weights-dir", str(WEIGHTS), "--model", model, log_dir=tmp_path) as server, \
            httpx.Client(base_url=server.base_url, timeout=30, trust_env=False) as client:
        info = client.get("/v1/model", headers={"X-Request-ID": REQUEST_ID})
        assert info.status_code == 200, info.text
        assert info.headers["x-request-id"] == REQUEST_ID
        assert {k: info.json()[k] for k in ("name", "version")} == served_ref(model)
        recorded = float(info.json()["metrics"]["test_accuracy"])

        singles = []
        for image in images:
            response = client.post("/v1/predict", json={"pixels": image.tolist()})
            assert response.status_code == 200, response.text
            singles.append(response.json())
        batch = client.post("/v1/predict/batch", json={"images": images.tolist()})
        assert batch.status_code == 200, batch.text
        batched = batch.json()["predictions"]
        assert batch.json()["model"] == served_ref(model)
        assert len(batched) == N_IMAGES

        # One at a time or in one batch: the same digits and (to float32 rounding) probabilities.
        digits = np.array([p["digit"] for p in singles])
        np.testing.assert_array_equal(digits, [p["digit"] for p in batched])
        proba = np.array([p["probabilities"] for p in singles])
        np.testing.assert_allclose(proba, [p["probabilities"] for p in batched], rtol=0, atol=1e-6)
        np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
        np.testing.assert_array_equal(proba.argmax(axis=1), digits)
        assert all(p["model"] == served_ref(model) for p in singles + batched)

        # Accuracy on 100 digits within sampling noise of the accuracy the artifact records.
        accuracy = float(np.mean(digits == labels))
        noise = 3 * math.sqrt(recorded * (1 - recorded) / N_IMAGES)
        assert accuracy >= recorded - noise - 0.01, (accuracy, recorded)
        assert accuracy >= 0.95, (accuracy, recorded)

        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        samples = metric_samples(metrics.text)
        post = (("method", "POST"),)

        def requests_total(route: str, status: str = "200") -> float:
            labels = (*post, ("protocol", "rest"), ("route", route), ("status", status))
            key = ("mnist_requests_total", tuple(sorted(labels)))
            return samples.get(key, 0.0)

        assert requests_total("/v1/predict") == N_IMAGES
        assert requests_total("/v1/predict/batch") == 1
        assert samples[("mnist_images_predicted_total", ())] == 2 * N_IMAGES
        assert samples[("mnist_batch_size_count", ())] == N_IMAGES + 1
        assert samples[("mnist_batch_size_sum", ())] == 2 * N_IMAGES
        by_digit = {dict(labels_)["digit"]: value for (name, labels_), value in samples.items()
                    if name == "mnist_predictions_total"}
        assert sum(by_digit.values()) == 2 * N_IMAGES
        assert by_digit == {str(d): 2.0 * n for d, n in enumerate(np.bincount(digits, minlength=10)) if n}
        version = str(served_ref(model)["version"])
        assert samples[("mnist_model_info", (("name", model), ("role", "served"), ("version", version)))] == 1
        counted = {dict(lab)["route"] for name, lab in samples if name == "mnist_requests_total"}
        assert counted == {"/v1/model", "/v1/predict", "/v1/predict/batch"}, counted

        # real digits are digits; a blank canvas and noise are not, and are said to be not (by a
        # version with the decision; one without answers null)
        decides = info.json()["ood"] is not None
        assert decides  # the newest version of each shipped model has the decision
        assert np.mean([p["is_digit"] for p in batched]) >= 0.95 if decides else \
            all(p["is_digit"] is None for p in batched)
        others = [np.zeros(784, int), np.random.default_rng(0).integers(0, 256, 784)]
        refused = client.post("/v1/predict/batch", json={"images": [o.tolist() for o in others]})
        expected = [False, False] if decides else [None, None]
        assert [p["is_digit"] for p in refused.json()["predictions"]] == expected
        # and why a digit is that digit: the attributions add up, within 1 %
        why = client.post("/v1/explain", json={"pixels": images[0].tolist()}).json()
        assert why["digit"] == digits[0] and len(why["saliency"]) == 28
        assert why["completeness_error"] <= 0.01

        # The benchmark's no-op routes exist only with MNIST_BENCHMARK_ROUTES=1.
        assert client.post("/bench/noop/predict", json={"pixels": images[0].tolist()}).status_code == 404

        started = time.monotonic()
        code = server.stop(timeout=10)
        assert time.monotonic() - started < 10
        assert code == 0, f"exit code {code} after SIGTERM:\n{server.log_text()}"

    log = server.log_text()
    assert "Traceback" not in log, log
    assert "Application shutdown complete" in log, log
    requests = [e for e in json_log_lines(log) if e.get("msg") == "request"]
    for entry in requests:
        assert {"request_id", "route", "status", "duration_ms"} <= set(entry), entry
        assert entry["status"] == 200 or (entry["route"], entry["status"]) == ("unmatched", 404), entry
        assert isinstance(entry["duration_ms"], int | float) and entry["duration_ms"] >= 0
    routes = [e["route"] for e in requests if e["status"] == 200]
    assert routes.count("/v1/predict") == N_IMAGES
    assert routes.count("/v1/predict/batch") == 2 and routes.count("/v1/explain") == 1
    assert len({e["request_id"] for e in requests}) == len(requests)
    assert [e["route"] for e in requests if e["request_id"] == REQUEST_ID] == ["/v1/model"]
    assert any(e.get("msg") == "model loaded" and e.get("model", {}).get("name") == model
               for e in json_log_lines(log))


def test_benchmark_routes_are_opt_in_and_validate_with_pydantic(mnist: Mnist, tmp_path: Path) -> None:
    image = mnist.test_images[0].tolist()
    flat = mnist.test_images[0].reshape(-1).tolist()
    with running_server("--weights-dir", str(WEIGHTS), "--model", "mnist-mlp", log_dir=tmp_path,
                        env={"MNIST_BENCHMARK_ROUTES": "1"}) as server, \
            httpx.Client(base_url=server.base_url, timeout=30, trust_env=False) as client:
        for path, body in (("/bench/noop/predict", {"pixels": image}),
                           ("/bench/noop/predict", {"pixels": flat}),
                           ("/bench/noop/batch", {"images": [image, flat]})):
            response = client.post(path, json=body)
            assert response.status_code == 200, (path, response.text)
        bad = client.post("/bench/noop/predict", json={"pixels": [["x"]]})
        assert bad.status_code == 422, bad.text
        assert not any(path.startswith("/bench") for path in client.get("/openapi.json").json()["paths"])
        assert client.post("/v1/predict", json={"pixels": image}).status_code == 200


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_exits_with_code_0(workers: int, tmp_path: Path) -> None:
    with running_server("--weights-dir", str(WEIGHTS), "--model", "mnist-mlp", "--workers", str(workers),
                        log_dir=tmp_path, timeout=60) as server:
        assert httpx.get(f"{server.base_url}/health/live", timeout=10, trust_env=False).status_code == 200
        started = time.monotonic()
        code = server.stop(timeout=10)
        elapsed = time.monotonic() - started
    assert elapsed < 10, server.log_text()
    assert "Traceback" not in server.log_text()
    assert code == 0, f"exit code {code} after SIGTERM:\n{server.log_text()}"


def run_cli(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNIST_")}
    started = time.monotonic()
    result = subprocess.run(serve_command(*args, port=free_port()), capture_output=True, text=True,
                            env=env, cwd=REPO_ROOT, timeout=timeout, stdin=subprocess.DEVNULL)
    return result, time.monotonic() - started


def assert_one_clear_line(result: subprocess.CompletedProcess[str], elapsed: float, *needles: str) -> str:
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == "", result
    line = lines[0]
    assert line.startswith("mnist-serve: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    assert elapsed < 30, elapsed  # it fails before binding the port or starting workers
    return line


def write_random(path: Path, size: int = 4096) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def test_missing_weights_dir_exits_with_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-weights"
    result, elapsed = run_cli("--weights-dir", str(missing), "--model", "mnist-mlp")
    assert_one_clear_line(result, elapsed, str(missing), "weights directory does not exist")


def test_missing_weights_dir_without_model_exits_with_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-weights"
    result, elapsed = run_cli("--weights-dir", str(missing))
    assert_one_clear_line(result, elapsed, str(missing), "weights directory does not exist")


@pytest.mark.parametrize("model_flag", [True, False], ids=["model", "best-model"])
def test_broken_artifact_exits_with_one_clear_line(tmp_path: Path, model_flag: bool) -> None:
    artifact = write_random(tmp_path / "weights" / "mnist-mlp" / "1.npz")
    args = ["--weights-dir", str(tmp_path / "weights")] + (["--model", "mnist-mlp"] if model_flag else [])
    result, elapsed = run_cli(*args)
    assert_one_clear_line(result, elapsed, str(artifact), "not a valid .npz file")


def test_truncated_real_artifact_exits_with_one_clear_line(tmp_path: Path) -> None:
    shipped = WEIGHTS / "mnist-mlp" / "1.npz"
    if not shipped.is_file():
        pytest.fail(f"{shipped}: the shipped MLP artifact is missing")
    artifact = tmp_path / "weights" / "mnist-mlp" / "1.npz"
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(shipped.read_bytes()[: shipped.stat().st_size // 2])
    result, elapsed = run_cli("--weights-dir", str(tmp_path / "weights"), "--model", "mnist-mlp")
    assert_one_clear_line(result, elapsed, str(artifact), "not a valid .npz file")


def test_server_process_helper_reports_a_server_that_dies(tmp_path: Path) -> None:
    from testkit.server import ServerStartError

    write_random(tmp_path / "weights" / "mnist-mlp" / "1.npz")
    with pytest.raises(ServerStartError, match="exited with code 2"), \
            running_server("--weights-dir", str(tmp_path / "weights"), timeout=60):
        pass

