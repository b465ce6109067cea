"""Bad gRPC calls against the real server process: each kind gets its status code and a message
saying what and where, and the server stays up; a 100 MiB message is refused without being read."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from testkit.proc import status_mib
from testkit.server import ServerProcess, ServerStartError, free_port, running_server

pytestmark = pytest.mark.slow
MODEL = "mnist-mlp"
MAX_BODY = 8 * 1024 * 1024  # the default MNIST_MAX_BODY_BYTES


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ServerProcess, str]]:
    port = free_port()
    with running_server("--model", MODEL, "--grpc-port", str(port)) as process:
        yield process, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stub(served: tuple[ServerProcess, str]) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    options = [("grpc.max_send_message_length", 200 * 1024 * 1024)]  # the client must not refuse first
    with grpc.insecure_channel(served[1], options=options) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def request_of(shape: list[int], datatype: str = "FP32", raw: bytes | None = None,
               model: str = MODEL, version: str = "") -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    request.inputs.add(name="images", datatype=datatype, shape=shape)
    if raw is None:
        raw = np.zeros(shape, np.float32).tobytes()
    request.raw_input_contents.append(raw)
    return request


def failure(stub: service_pb2_grpc.GRPCInferenceServiceStub, request: service_pb2.ModelInferRequest,
            timeout: float = 30) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request, timeout=timeout)
    return info.value


def bad_pixel() -> bytes:
    pixels = np.zeros((2, 28, 28), np.float32)
    pixels[1, 4, 7] = 300
    return pixels.tobytes()


@pytest.mark.parametrize(("request_", "code", "message"), [
    (request_of([1, 27, 28]), grpc.StatusCode.INVALID_ARGUMENT,
     "input 'images': shape [1, 27, 28] is not an image batch; use [N, 28, 28], [N, 784] or [N, 1, 28, 28]"),
    (request_of([1, 784], "BYTES", b"x" * 784), grpc.StatusCode.INVALID_ARGUMENT,
     "input 'images': datatype BYTES cannot carry pixels"),
    (request_of([2, 28, 28], raw=bad_pixel()), grpc.StatusCode.INVALID_ARGUMENT,
     "input 'images': element [1, 4, 7] is 300, outside the pixel range 0-255"),
    (request_of([1, 784], raw=b"\0" * 100), grpc.StatusCode.INVALID_ARGUMENT,
     "input 'images': raw_input_contents[0] is 100 bytes, but shape [1, 784] of FP32 needs 3136"),
    (request_of([1, 784], model="mnist-dnn"), grpc.StatusCode.NOT_FOUND,
     "unknown model 'mnist-dnn': not loaded"),
    (request_of([1, 784], version="99"), grpc.StatusCode.NOT_FOUND,
     f"unknown version '99' of model '{MODEL}': not loaded"),
], ids=["shape", "datatype", "pixel", "raw size", "model", "version"])
def test_bad_input_gets_its_code_and_a_message_saying_where(
        stub: service_pb2_grpc.GRPCInferenceServiceStub, request_: service_pb2.ModelInferRequest,
        code: grpc.StatusCode, message: str) -> None:
    error = failure(stub, request_)
    assert error.code() == code
    assert message in error.details()


def test_repository_calls_are_refused_while_no_admin_token_is_set(
        stub: service_pb2_grpc.GRPCInferenceServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(), timeout=10,
                             metadata=(("authorization", "Bearer anything"),))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "the model-repository routes are off: set MNIST_ADMIN_TOKEN" in info.value.details()


def test_over_the_body_limit_is_resource_exhausted(stub: service_pb2_grpc.GRPCInferenceServiceStub) -> None:
    count = MAX_BODY // 784 // 4 + 1  # just over the limit in float32 images
    error = failure(stub, request_of([count, 784]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(MAX_BODY) in error.details()


def test_a_100_mib_message_is_refused_without_the_server_growing(
        served: tuple[ServerProcess, str], stub: service_pb2_grpc.GRPCInferenceServiceStub) -> None:
    process, _ = served
    stub.ModelInfer(request_of([1, 784]), timeout=30)  # warm: the first call's allocations are not growth
    before = status_mib(process.process.pid, "VmRSS")
    count = 100 * 1024 * 1024 // (784 * 4)  # FP32 images: 100 MiB
    hostile = request_of([count, 784], raw=bytes(count * 784 * 4))
    for _ in range(3):
        assert failure(stub, hostile).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    grown = status_mib(process.process.pid, "VmRSS") - before
    print(f"server RSS grew {grown:.1f} MiB after three 100 MiB messages")
    assert grown < 4, f"the server grew {grown:.1f} MiB"
    assert stub.ModelInfer(request_of([1, 784]), timeout=30).model_name == MODEL  # still serving


def images_counted(stub: service_pb2_grpc.GRPCInferenceServiceStub, model: str) -> int:
    stats = stub.ModelStatistics(service_pb2.ModelStatisticsRequest(name=model), timeout=10).model_stats
    return sum(s.inference_count for s in stats)


def test_a_passed_deadline_stops_the_work() -> None:
    """With one work thread, a call queued behind a long one outlives its deadline while it waits:
    it gets DEADLINE_EXCEEDED and its forward pass never runs (the statistics count no images)."""
    port = free_port()
    with running_server("--model", "mnist-cnn", "--grpc-port", str(port),
                        env={"MNIST_WORK_THREADS": "1"}) as process, \
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        heavy = request_of([1024, 784], model="mnist-cnn")
        started = time.monotonic()
        stub.ModelInfer(heavy, timeout=60)
        took = time.monotonic() - started  # what the long call takes
        before = images_counted(stub, "mnist-cnn")
        with ThreadPoolExecutor(1) as pool:
            long_call = pool.submit(stub.ModelInfer, heavy, timeout=60)
            time.sleep(took / 10)  # the long call holds the work thread
            error = failure(stub, heavy, timeout=took / 3)
            long_call.result()
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        time.sleep(took)  # had the late call run anyway, it would be counted by now
        assert images_counted(stub, "mnist-cnn") - before == 1024
        assert "Traceback" not in process.log_text()


def test_past_the_in_flight_limit_is_unavailable_and_health_still_answers() -> None:
    port = free_port()
    with running_server("--model", "mnist-cnn", "--grpc-port", str(port),
                        env={"MNIST_MAX_IN_FLIGHT": "1"}) as process, \
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        heavy = request_of([1024, 784], model="mnist-cnn")  # the CNN takes a while over 1,024 images

        def call(_: int) -> grpc.StatusCode:
            try:
                stub.ModelInfer(heavy, timeout=60)
                return grpc.StatusCode.OK
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.UNAVAILABLE:
                    assert "the server is busy (1 requests in flight)" in error.details()
                return error.code()

        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(call, range(6)))
            answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        assert grpc.StatusCode.OK in codes and grpc.StatusCode.UNAVAILABLE in codes, codes
        assert "Traceback" not in process.log_text()


def test_health_service_and_graceful_stop_finishes_the_call_in_flight() -> None:
    port = free_port()
    with running_server("--model", "mnist-cnn", "--grpc-port", str(port)) as process:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "inference.GRPCInferenceService"):
                answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            with ThreadPoolExecutor(1) as pool:
                in_flight = pool.submit(stub.ModelInfer, request_of([1024, 784], model="mnist-cnn"),
                                        timeout=60)
                time.sleep(0.3)  # the call is being worked on when SIGTERM comes
                assert process.stop() == 0
                answer = in_flight.result()
            assert answer.model_name == "mnist-cnn" and list(answer.outputs[0].shape) == [1024, 10]
        assert "gRPC server stopped" in process.log_text()


def listeners(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port` (Linux /proc/net; gRPC's are IPv6 sockets with
    the IPv4-mapped address)."""
    local = f"0100007F:{port:04X}"
    rows = [row.split() for name in ("tcp", "tcp6")
            for row in Path(f"/proc/net/{name}").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(local) and row[3] == "0A")  # 0A: LISTEN


def test_workers_share_the_grpc_port() -> None:
    """Two workers each run a gRPC server on the one port (SO_REUSEPORT), and calls are answered."""
    port = free_port()
    with running_server("--model", MODEL, "--workers", "2", "--grpc-port", str(port)) as process:
        deadline = time.monotonic() + 20
        while listeners(port) < 2:  # the second worker may still be starting
            assert time.monotonic() < deadline, f"{listeners(port)} listener(s) on the gRPC port"
            time.sleep(0.1)
        for _ in range(8):  # a channel each: new connections, spread by the kernel
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
                assert stub.ModelInfer(request_of([1, 784]), timeout=30).model_name == MODEL
        assert "Traceback" not in process.log_text()


def test_with_one_worker_a_grpc_port_in_use_fails_the_start() -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(ServerStartError) as info, \
                running_server("--model", MODEL, "--grpc-port", str(port), timeout=20):
            pass
    assert f"127.0.0.1:{port}" in str(info.value)
