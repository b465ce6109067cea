"""The KServe Python SDK's REST client (protocol v2) against the real `mnist-serve` process: health,
model readiness and inference with JSON and with binary tensors, on real MNIST test digits.

The SDK runs in a process of its own: its generated gRPC code and tritonclient's both register
`inference.*` messages in protobuf's default pool, so the two cannot be imported together."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from testkit.server import ServerProcess, running_server
from testkit.shipped import shipped_weights
from training.data import Mnist

pytestmark = [pytest.mark.mnist, pytest.mark.slow]
MODEL = "mnist-cnn"
N_IMAGES = 32

KSERVE_REST_CALLS = """
import asyncio, json, sys

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

base_url, model, path = sys.argv[1:]
images = np.load(path)


async def main():
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=60))
    found = {}
    try:
        found["live"] = await client.is_server_live(base_url)
        found["ready"] = await client.is_server_ready(base_url)
        found["model_ready"] = await client.is_model_ready(base_url, model)
        found["unknown_model_ready"] = await client.is_model_ready(base_url, "mnist-dnn")
        for binary in (False, True):
            tensor = InferInput("images", list(images.shape), "FP32")
            tensor.set_data_from_numpy(images.astype(np.float32), binary_data=binary)
            response = await client.infer(base_url, InferRequest(model, [tensor], request_id=f"k-{binary}"),
                                          model_name=model)
            found[f"binary={binary}"] = {"id": response.id, "model": response.model_name,
                                         "outputs": {o.name: o.as_numpy().tolist() for o in response.outputs}}
        body = {"inputs": [{"name": "images", "shape": [len(images), 784], "datatype": "UINT8",
                            "data": images.reshape(-1).tolist()}]}
        response = await client.infer(base_url, body, model_name=model)
        found["dict"] = {o.name: o.as_numpy().tolist() for o in response.outputs}
    finally:
        await client.close()
    print(json.dumps(found))


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server("--weights-dir", str(shipped_weights()), "--model", MODEL,
                        log_dir=tmp_path_factory.mktemp("kserve-client")) as process:
        yield process


@pytest.fixture(scope="module")
def answers(server: ServerProcess, mnist: Mnist, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("kserve-images") / "images.npy"
    np.save(path, mnist.test_images[:N_IMAGES])
    command = [sys.executable, "-c", KSERVE_REST_CALLS, server.base_url, MODEL, str(path)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    found: dict[str, Any] = json.loads(run.stdout)
    return found


@pytest.fixture(scope="module")
def v1_digits(server: ServerProcess, mnist: Mnist) -> list[int]:
    images = mnist.test_images[:N_IMAGES]
    response = httpx.post(f"{server.base_url}/v1/predict/batch", json={"images": images.tolist()},
                          timeout=60, trust_env=False)
    return [p["digit"] for p in response.json()["predictions"]]


def test_health_and_model_readiness(answers: dict[str, Any]) -> None:
    assert (answers["live"], answers["ready"], answers["model_ready"]) == (True, True, True)
    assert answers["unknown_model_ready"] is False


@pytest.mark.parametrize("binary", [False, True])
def test_infer_agrees_with_v1(answers: dict[str, Any], v1_digits: list[int], mnist: Mnist,
                              binary: bool) -> None:
    answer = answers[f"binary={binary}"]
    assert (answer["id"], answer["model"]) == (f"k-{binary}", MODEL)
    assert answer["outputs"]["digit"] == v1_digits
    assert np.array(answer["outputs"]["probabilities"]).shape == (N_IMAGES, 10)
    assert np.mean(np.array(v1_digits) == mnist.test_labels[:N_IMAGES]) >= 0.95


def test_infer_with_a_plain_dict_body(answers: dict[str, Any], v1_digits: list[int]) -> None:
    assert answers["dict"]["digit"] == v1_digits
