"""The KServe Python SDK's REST client (protocol v2) against the real `mnist-serve` process: health,
model readiness and inference with JSON and with binary tensors, on real MNIST test digits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

from testkit.server import ServerProcess, running_server
from testkit.shipped import shipped_weights
from training.data import Mnist

pytestmark = [pytest.mark.mnist, pytest.mark.slow]
MODEL = "mnist-cnn"
N_IMAGES = 32


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server("--weights-dir", str(shipped_weights()), "--model", MODEL,
                        log_dir=tmp_path_factory.mktemp("kserve-client")) as process:
        yield process


def call(method: str, *args: Any, **kwargs: Any) -> Any:
    """One SDK call on a fresh client (its httpx client belongs to one event loop)."""
    async def main() -> Any:
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=60))
        try:
            return await getattr(client, method)(*args, **kwargs)
        finally:
            await client.close()
    return asyncio.run(main())


def test_health_and_model_readiness(server: ServerProcess) -> None:
    assert call("is_server_live", server.base_url) is True
    assert call("is_server_ready", server.base_url) is True
    assert call("is_model_ready", server.base_url, MODEL) is True
    assert call("is_model_ready", server.base_url, "mnist-dnn") is False


@pytest.fixture(scope="module")
def v1_digits(server: ServerProcess, mnist: Mnist) -> np.ndarray:
    images = mnist.test_images[:N_IMAGES]
    response = httpx.post(f"{server.base_url}/v1/predict/batch", json={"images": images.tolist()},
                          timeout=60, trust_env=False)
    return np.array([p["digit"] for p in response.json()["predictions"]])


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_agrees_with_v1(server: ServerProcess, mnist: Mnist, v1_digits: np.ndarray,
                              binary: bool) -> None:
    images = mnist.test_images[:N_IMAGES].astype(np.float32)
    tensor = InferInput("images", [N_IMAGES, 28, 28], "FP32")
    tensor.set_data_from_numpy(images, binary_data=binary)
    request = InferRequest(MODEL, [tensor], request_id=f"kserve-{binary}")
    response = call("infer", server.base_url, request, model_name=MODEL)
    assert (response.id, response.model_name) == (f"kserve-{binary}", MODEL)
    outputs = {o.name: o for o in response.outputs}
    np.testing.assert_array_equal(outputs["digit"].as_numpy(), v1_digits)
    assert outputs["probabilities"].as_numpy().shape == (N_IMAGES, 10)
    assert np.mean(v1_digits == mnist.test_labels[:N_IMAGES]) >= 0.95


def test_infer_with_a_plain_dict_body(server: ServerProcess, mnist: Mnist, v1_digits: np.ndarray) -> None:
    body = {"inputs": [{"name": "images", "shape": [N_IMAGES, 784], "datatype": "UINT8",
                        "data": mnist.test_images[:N_IMAGES].reshape(-1).tolist()}]}
    response = call("infer", server.base_url, body, model_name=MODEL)
    digits = next(o for o in response.outputs if o.name == "digit")
    np.testing.assert_array_equal(digits.as_numpy(), v1_digits)
