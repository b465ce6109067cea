"""The standard gRPC clients against the real `mnist-serve` process: tritonclient.grpc (sync and
asyncio), tritonclient's generated stub for typed contents, and the KServe SDK's InferenceGRPCClient;
answers checked against /v1 on real MNIST test digits."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from testkit.answers import Answer, v1_batch_answer
from testkit.server import ServerProcess, free_port, running_server
from testkit.shipped import newest_shipped, shipped_weights
from training.data import Mnist

pytestmark = [pytest.mark.mnist, pytest.mark.slow]
MODEL = "mnist-cnn"  # the default model; its newest version has the "not a digit" decision
VERSION = str(newest_shipped(MODEL))
TOKEN = "grpc-test-token"
N_IMAGES = 200
AUTH = {"authorization": f"Bearer {TOKEN}"}


class GRPCServer:
    def __init__(self, process: ServerProcess, grpc_port: int) -> None:
        self.process, self.url = process, f"127.0.0.1:{grpc_port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GRPCServer]:
    port = free_port()
    with running_server("--weights-dir", str(shipped_weights()), "--model", MODEL, "--grpc-port", str(port),
                        env={"MNIST_ADMIN_TOKEN": TOKEN},
                        log_dir=tmp_path_factory.mktemp("grpc-clients")) as process:
        yield GRPCServer(process, port)


@pytest.fixture(scope="module")
def client(server: GRPCServer) -> Iterator[triton.InferenceServerClient]:
    triton_client = triton.InferenceServerClient(url=server.url)
    yield triton_client
    triton_client.close()


@pytest.fixture(scope="module")
def images(mnist: Mnist) -> np.ndarray:
    return mnist.test_images[:N_IMAGES]


@pytest.fixture(scope="module")
def v1_answer(server: GRPCServer, images: np.ndarray) -> Answer:
    return v1_batch_answer(server.process.base_url, images)


def check_agrees(result_digits: np.ndarray, proba: np.ndarray, is_digit: np.ndarray,
                 v1: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    np.testing.assert_array_equal(result_digits, v1[0])
    np.testing.assert_allclose(proba, v1[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(is_digit, v1[2])


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, model_version=VERSION)
    assert not client.is_model_ready("mnist-dnn")
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "mnist-serve" and "model_repository" in server["extensions"]
    metadata = client.get_model_metadata(MODEL, as_json=True)
    assert metadata["name"] == MODEL and metadata["versions"] == [VERSION]
    assert metadata["inputs"] == [{"name": "images", "datatype": "FP32", "shape": ["-1", "28", "28"]}]
    assert [o["name"] for o in metadata["outputs"]] == ["probabilities", "digit", "is_digit"]


@pytest.mark.parametrize("datatype", ["UINT8", "FP32"])
def test_infer_raw_agrees_with_v1_on_200_digits(client: triton.InferenceServerClient, images: np.ndarray,
                                                v1_answer: Answer,
                                                datatype: str) -> None:
    array = images.astype(np.uint8 if datatype == "UINT8" else np.float32)
    tensor = triton.InferInput("images", list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    result = client.infer(MODEL, [tensor], request_id="batch-1")
    assert result.get_response().id == "batch-1"
    assert result.get_response().model_version == VERSION
    check_agrees(result.as_numpy("digit"), result.as_numpy("probabilities"), result.as_numpy("is_digit"),
                 v1_answer)


def test_requested_outputs_only_and_one_image_at_a_time(client: triton.InferenceServerClient,
                                                        images: np.ndarray,
                                                        v1_answer: Answer) -> None:
    for i in range(5):
        tensor = triton.InferInput("images", [1, 784], "UINT8")
        tensor.set_data_from_numpy(images[i].reshape(1, 784))
        result = client.infer(MODEL, [tensor], outputs=[triton.InferRequestedOutput("digit")])
        assert [o.name for o in result.get_response().outputs] == ["digit"]
        assert result.as_numpy("digit").tolist() == [v1_answer[0][i]]


def test_typed_contents_through_the_generated_stub(server: GRPCServer, images: np.ndarray,
                                                   v1_answer: Answer) -> None:
    """tritonclient's InferInput always sends raw bytes; its generated stub sends typed contents."""
    request = service_pb2.ModelInferRequest(model_name=MODEL, id="typed")
    tensor = request.inputs.add(name="images", datatype="UINT8", shape=[N_IMAGES, 28, 28])
    tensor.contents.uint_contents.extend(images.ravel().tolist())
    with grpc.insecure_channel(server.url) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    assert response.id == "typed" and not response.raw_output_contents  # typed in, typed out
    outputs = {o.name: o for o in response.outputs}
    proba = np.array(outputs["probabilities"].contents.fp32_contents, np.float32).reshape(N_IMAGES, 10)
    check_agrees(np.array(outputs["digit"].contents.int64_contents), proba,
                 np.array(outputs["is_digit"].contents.bool_contents), v1_answer)


def test_asyncio_client(server: GRPCServer, images: np.ndarray,
                        v1_answer: Answer) -> None:
    async def run() -> None:
        async with triton_aio.InferenceServerClient(url=server.url) as aio_client:
            assert await aio_client.is_server_live() and await aio_client.is_server_ready()
            assert await aio_client.is_model_ready(MODEL)
            assert (await aio_client.get_model_metadata(MODEL)).name == MODEL
            tensor = triton_aio.InferInput("images", [N_IMAGES, 28, 28], "UINT8")
            tensor.set_data_from_numpy(images)
            results = await asyncio.gather(*(aio_client.infer(MODEL, [tensor], request_id=str(i))
                                             for i in range(4)))
            assert [r.get_response().id for r in results] == ["0", "1", "2", "3"]
            for result in results:
                check_agrees(result.as_numpy("digit"), result.as_numpy("probabilities"),
                             result.as_numpy("is_digit"), v1_answer)
            config = (await aio_client.get_model_config(MODEL, as_json=True))["config"]
            assert config["name"] == MODEL
            index = await aio_client.get_model_repository_index(headers=AUTH, as_json=True)
            served = {"name": MODEL, "version": VERSION, "state": "READY", "reason": "served"}
            assert served in index["models"]

    asyncio.run(run())


def test_config_and_statistics(client: triton.InferenceServerClient, images: np.ndarray) -> None:
    config = client.get_model_config(MODEL, as_json=True)["config"]
    assert config["name"] == MODEL and config["max_batch_size"] == 1024
    assert config["input"] == [{"name": "images", "data_type": "TYPE_FP32", "dims": ["28", "28"]}]
    assert [o["name"] for o in config["output"]] == ["probabilities", "digit", "is_digit"]

    def count() -> int:
        stats = client.get_inference_statistics(MODEL, as_json=True)["model_stats"]
        entry = next(s for s in stats if s["version"] == VERSION)
        return int(entry.get("inference_count", 0))

    before = count()
    tensor = triton.InferInput("images", [3, 28, 28], "UINT8")
    tensor.set_data_from_numpy(images[:3])
    client.infer(MODEL, [tensor])
    assert count() == before + 3  # statistics count images, whichever protocol sent them


def test_repository_with_the_token(client: triton.InferenceServerClient) -> None:
    index = client.get_model_repository_index(headers=AUTH, as_json=True)["models"]
    assert {"name": MODEL, "version": VERSION, "state": "READY", "reason": "served"} in index
    older = str(newest_shipped(MODEL) - 1)
    # tritonclient's load_model sends only `config`: the load parameters go in it as JSON
    client.load_model(MODEL, headers=AUTH, config=json.dumps({"version": int(older), "rollout": "shadow"}))
    try:
        assert client.is_model_ready(MODEL, model_version=older)
        index = client.get_model_repository_index(headers=AUTH, as_json=True)["models"]
        assert {"name": MODEL, "version": older, "state": "READY", "reason": "candidate (shadow)"} in index
        with pytest.raises(InferenceServerException) as info:
            client.unload_model(MODEL, headers=AUTH)
        assert info.value.status() == "StatusCode.FAILED_PRECONDITION"
        assert f"under a shadow of version {older}" in info.value.message()
    finally:  # loading the served version again ends the rollout
        client.load_model(MODEL, headers=AUTH, config=json.dumps({"version": int(VERSION)}))
    assert not client.is_model_ready(MODEL, model_version=older)


def test_repository_refuses_without_the_right_token(client: triton.InferenceServerClient) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}):
        with pytest.raises(InferenceServerException) as info:
            client.get_model_repository_index(headers=headers)
        assert info.value.status() == "StatusCode.UNAUTHENTICATED"
        assert "missing or wrong bearer token" in info.value.message()


def test_calls_are_logged_and_counted_with_the_protocol(server: GRPCServer,
                                                          client: triton.InferenceServerClient,
                                                          images: np.ndarray) -> None:
    tensor = triton.InferInput("images", [1, 28, 28], "UINT8")
    tensor.set_data_from_numpy(images[:1])
    client.infer(MODEL, [tensor], headers={"x-request-id": "logged-call-1"})
    with pytest.raises(InferenceServerException):
        client.infer("mnist-dnn", [tensor], headers={"x-request-id": "logged-call-2"})
    deadline = time.monotonic() + 5
    while True:  # a call's line is written once its answer is on its way: it may follow it
        lines = [json.loads(line) for line in server.process.log_text().splitlines() if "logged-call" in line]
        if len(lines) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    route = "/inference.GRPCInferenceService/ModelInfer"
    assert [(e["request_id"], e["protocol"], e["route"], e["status"], e["grpc_status"]) for e in lines] == [
        ("logged-call-1", "grpc", route, 200, "OK"), ("logged-call-2", "grpc", route, 404, "NOT_FOUND")]
    metrics = httpx.get(f"{server.process.base_url}/metrics", trust_env=False).text
    counted = {(s.labels["protocol"], s.labels["route"], s.labels["status"]): s.value
               for family in text_string_to_metric_families(metrics) for s in family.samples
               if s.name == "mnist_requests_total"}
    assert counted[("grpc", route, "200")] >= 1 and counted[("grpc", route, "404")] >= 1
    assert not any(r.endswith("/ServerLive") for _, r, _ in counted)  # probes are not traffic


KSERVE_CLIENT = """
import asyncio, json, sys

import numpy as np
from kserve import InferenceGRPCClient, InferInput, InferRequest

url, model, path = sys.argv[1:]
images = np.load(path)


async def main():
    client = InferenceGRPCClient(url, timeout=30)
    try:
        ready = await client.is_server_ready()
        tensor = InferInput("images", list(images.shape), "UINT8")
        tensor.set_data_from_numpy(images, binary_data=True)
        response = await client.infer(InferRequest(model, infer_inputs=[tensor], request_id="k"))
        outputs = {o.name: o.as_numpy().tolist() for o in response.outputs}
        print(json.dumps({"ready": ready, "id": response.id, "outputs": outputs}))
    finally:
        await client.close()


asyncio.run(main())
"""


def test_kserve_sdk_client(server: GRPCServer, images: np.ndarray, tmp_path: Path,
                           v1_answer: Answer) -> None:
    """In a process of its own: the KServe SDK's generated code and tritonclient's both register
    `inference.*` messages in protobuf's default pool, so the two cannot be imported together."""
    np.save(tmp_path / "images.npy", images)
    command = [sys.executable, "-c", KSERVE_CLIENT, server.url, MODEL, str(tmp_path / "images.npy")]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    answer = json.loads(run.stdout)
    assert answer["ready"] is True and answer["id"] == "k"
    out = answer["outputs"]
    check_agrees(np.array(out["digit"]), np.array(out["probabilities"], np.float32),
                 np.array(out["is_digit"]), v1_answer)
