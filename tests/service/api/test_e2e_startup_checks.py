"""Start-up checks every model as a repository load does, against the real server process: a model
that fails is left out and listed with its reason, the others serve, readiness follows the
default model."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from testkit.artifacts import shipped_copy
from testkit.hostile_artifacts import rewritten
from testkit.server import REPO_ROOT, free_port, running_command, running_server, serve_command
from testkit.shipped import shipped_weights


def weights_with_bad_models(tmp_path: Path) -> Path:
    weights = tmp_path / "weights"
    for model in ("mnist-cnn", "mnist-mlp"):
        (weights / model).mkdir(parents=True)
        source = shipped_weights() / model / "1.npz"
        (weights / model / "1.npz").write_bytes(source.read_bytes())
    (weights / "mnist-zzz").mkdir()
    (weights / "mnist-zzz" / "1.npz").write_bytes(b"PK\x03\x04 metadata that is not JSON")
    nan = shipped_copy(weights, 1, name="mnist-nan")
    rewritten(nan, nan, arrays=lambda arrays: [a.fill(float("nan")) for a in arrays.values()])
    return weights


def test_bad_models_are_left_out_and_listed_and_the_others_serve(tmp_path: Path) -> None:
    weights = weights_with_bad_models(tmp_path)
    with running_server("--model", "mnist-cnn", env={"MNIST_WEIGHTS_DIR": str(weights)}) as server:
        models = httpx.get(f"{server.base_url}/v1/models").json()
        assert {m["name"] for m in models["served"]} == {"mnist-cnn", "mnist-mlp"}
        reasons = {u["name"]: u["reason"] for u in models["unavailable"]}
        assert "not a valid .npz" in reasons["mnist-zzz"] and "NaN" in reasons["mnist-nan"]
        answer = httpx.post(f"{server.base_url}/v1/predict?model=mnist-nan", json={"pixels": [0] * 784})
        assert answer.status_code == 404
        assert httpx.post(f"{server.base_url}/v1/predict?model=mnist-mlp",
                          json={"pixels": [0] * 784}).status_code == 200
        assert "model not loaded" in server.log_text() and "Traceback" not in server.log_text()


def test_a_default_model_that_fails_leaves_the_server_up_but_not_ready(tmp_path: Path) -> None:
    weights = weights_with_bad_models(tmp_path)
    port = free_port()
    env = {**os.environ, "MNIST_WEIGHTS_DIR": str(weights),
           "MNIST_STATE_PATH": str(tmp_path / "serving.json"), "PYTHONUNBUFFERED": "1"}
    command = serve_command("--model", "mnist-nan", port=port)
    with running_command(command, port, env, REPO_ROOT, ready_path="/health/live") as server:
        ready = httpx.get(f"{server.base_url}/health/ready")
        assert ready.status_code == 503
        assert "mnist-nan" in ready.json()["error"]["message"] and "NaN" in ready.json()["error"]["message"]
        assert httpx.post(f"{server.base_url}/v1/predict?model=mnist-cnn",
                          json={"pixels": [0] * 784}).status_code == 200
