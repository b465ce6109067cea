"""Clients that misbehave, against the real server process: each gets a clear answer (or none, when
it hung up), is recorded honestly, and leaves no traceback."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from testkit.huge_heads import stream_long_head
from testkit.proc import reset_peak, settle, status_mib
from testkit.server import HOST, ServerProcess, running_server
from testkit.worst_cases import PEAK_BOUND_MIB, all_cases


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with running_server("--model", "mnist-mlp") as process:
        yield process


def request_lines(server: ServerProcess) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("msg") == "request"]


def test_client_hanging_up_mid_body_is_499_not_a_server_error(server: ServerProcess) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(b"POST /v1/predict/batch HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                     b"x-request-id: hung-up-1\r\ncontent-length: 1000\r\n\r\n" + b'{"images": [')
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while not any(line["request_id"] == "hung-up-1" for line in request_lines(server)):
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.05)
    (line,) = [line for line in request_lines(server) if line["request_id"] == "hung-up-1"]
    assert line["status"] == 499
    assert "Traceback" not in server.log_text()
    metrics = httpx.get(f"{server.base_url}/metrics").text
    statuses = {s.labels["status"] for f in text_string_to_metric_families(metrics)
                for s in f.samples if s.name == "mnist_requests_total"}
    assert "499" in statuses and "500" not in statuses


def raw_request(server: ServerProcess, head: bytes, body: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client library would send these headers) and read the answer."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(head + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("value", ["²".encode("latin-1"), "1³".encode("latin-1"), "١٢".encode(), b"-1",
                                   b"1e3", b"0x10"],
                         ids=["superscript two", "superscript three", "arabic-indic digits", "negative",
                              "exponent", "hex"])
def test_numeric_headers_take_ascii_digits_only(server: ServerProcess, value: bytes) -> None:
    status, body = raw_request(server, b"POST /v2/models/mnist-mlp/infer HTTP/1.1\r\nhost: x\r\n"
                               b"content-type: application/octet-stream\r\n"
                               b"inference-header-content-length: " + value + b"\r\n", b'{"inputs": []}')
    assert status == 400, body
    assert "Inference-Header-Content-Length" in json.loads(body)["error"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/v1/model"), ("POST", "/v1/predict"),
                                              ("GET", "/nope"), ("GET", "/metrics"), ("GET", "/v2")])
def test_every_response_forbids_sniffing_and_referrers(server: ServerProcess, method: str, path: str) -> None:
    response = httpx.request(method, f"{server.base_url}{path}", json={} if method == "POST" else None)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert len(response.headers.get_list("x-content-type-options")) == 1


def stalled_upload(server: ServerProcess, request_id: str) -> socket.socket:
    """A connection that declares 1,000 body bytes and sends 10 (the caller closes it)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.sendall(b"POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 b"x-request-id: " + request_id.encode() + b"\r\ncontent-length: 1000\r\n\r\n"
                 b'{"pixels":')
    return sock


def test_a_stalled_body_gets_408_within_the_timeout_and_the_server_stays_up() -> None:
    with running_server("--model", "mnist-mlp", env={"MNIST_BODY_TIMEOUT_SECONDS": "1"}) as server:
        started = time.monotonic()
        with stalled_upload(server, "stalled-1") as sock:
            answer = b""
            while chunk := sock.recv(65536):  # the server answers, then closes the connection
                answer += chunk
        waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"did not arrive within 1 s" in answer
        assert 0.9 < waited < 4, waited
        assert httpx.get(f"{server.base_url}/health/live").status_code == 200
        assert "Traceback" not in server.log_text()


def test_shutdown_does_not_wait_for_a_stalled_upload_past_its_bound() -> None:
    env = {"MNIST_BODY_TIMEOUT_SECONDS": "120", "MNIST_SHUTDOWN_TIMEOUT_SECONDS": "2"}
    with running_server("--model", "mnist-mlp", env=env) as server, stalled_upload(server, "stalled-2"):
        time.sleep(0.3)
        started = time.monotonic()
        code = server.stop(timeout=15)
        stopped = time.monotonic() - started
    assert code == 0, server.log_text()
    assert stopped < 6, f"took {stopped:.1f} s to stop with a stalled upload open"


def test_past_the_in_flight_limit_requests_get_503_at_once_and_health_still_answers() -> None:
    with running_server("--model", "mnist-mlp", env={"MNIST_MAX_IN_FLIGHT": "2"}) as server:
        url = f"{server.base_url}/v1/predict"
        with stalled_upload(server, "slot-1"), stalled_upload(server, "slot-2"):
            time.sleep(0.3)  # both hold a slot while their bodies do not arrive
            started = time.monotonic()
            busy = httpx.post(url, json={"pixels": [0] * 784})
            assert time.monotonic() - started < 0.5
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "1"
            assert busy.json()["error"]["code"] == "overloaded"
            v2 = httpx.post(f"{server.base_url}/v2/models/mnist-mlp/infer", json={"inputs": []})
            assert v2.status_code == 503 and "busy" in v2.json()["error"]
            assert httpx.get(f"{server.base_url}/health/live").status_code == 200
            assert httpx.get(f"{server.base_url}/health/ready").status_code == 200
        deadline = time.monotonic() + 5
        while (answer := httpx.post(url, json={"pixels": [0] * 784})).status_code == 503:
            assert time.monotonic() < deadline  # the hung-up uploads give their slots back
            time.sleep(0.05)
        assert answer.status_code == 200


def read_answer(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


@pytest.mark.slow
@pytest.mark.parametrize("sent", [b"", b"POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-le"],
                         ids=["nothing", "half the headers"])
def test_headers_that_do_not_arrive_get_408_within_the_header_timeout(sent: bytes) -> None:
    with running_server("--model", "mnist-mlp", env={"MNIST_HEADER_TIMEOUT_SECONDS": "1"}) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        started = time.monotonic()
        with socket.create_connection((HOST, port), timeout=10) as sock:
            sock.sendall(sent)
            answer = read_answer(sock)  # the server answers, then closes the connection
        waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer
        error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
        assert error["code"] == "request_timeout" and "headers did not arrive within 1 s" in error["message"]
        assert 0.9 < waited < 4, waited
        # a client that keeps its connection between requests is not cut while it sends nothing
        with httpx.Client(base_url=server.base_url) as client:
            assert client.get("/health/live").status_code == 200
            time.sleep(1.5)  # idle between requests: the keep-alive timeout's business (5 s)
            assert client.get("/health/live").status_code == 200
        assert "Traceback" not in server.log_text()


@pytest.fixture(scope="module")
def cnn_server() -> Iterator[ServerProcess]:
    with running_server("--model", "mnist-cnn", "--log-level", "warning",
                        env={"MNIST_ACCESS_LOG": "false"}) as process:
        yield process


WORST = {case.name: case for case in all_cases()}
# One of each kind, the heaviest (the batches of 1,024 that are served take the CNN seconds each)
HEAVIEST = ["image PNG RGBA", "image PNG I;16", "v1 batch 1024 float images (8 MiB)",
            "v1 batch 5,200 images (over the count)", "v2 JSON 4 million values", "v2 gzip bomb 64 MiB"]


@pytest.mark.slow
@pytest.mark.parametrize("name", HEAVIEST)
def test_sixteen_of_the_largest_requests_at_once_stay_under_512_mib(cnn_server: ServerProcess,
                                                                     name: str) -> None:
    """Issue 14's bound, with the CNN and default settings; benchmarks/bench_worst_case.py has every case."""
    case, pid = WORST[name], cnn_server.process.pid
    reset_peak(pid)  # VmHWM back to the current size: this case's peak

    def send(_: int) -> int:
        answer = httpx.post(cnn_server.base_url + case.path, content=case.body, headers=case.headers,
                            timeout=60)
        return answer.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = set(pool.map(send, range(16)))
    assert statuses <= set(case.statuses), statuses
    assert status_mib(pid, "VmHWM") < PEAK_BOUND_MIB


def test_bursts_of_refused_large_bodies_leave_the_workers_memory_where_it_was(server: ServerProcess) -> None:
    """Refused bodies are freed as soon as they are answered, not at the collector's next full
    pass: otherwise each burst adds its bodies to the worker's size."""
    pid, body = server.process.pid, b"x" * (8 * 1024 * 1024 - 1024)
    before = settle(pid)

    def send(_: int) -> int:
        return httpx.post(f"{server.base_url}/v1/predict/batch", content=body, timeout=60,
                          headers={"content-type": "text/plain"}).status_code

    for _ in range(3):
        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(send, range(16))) == {415}
    assert settle(pid) - before < 64  # sixteen such bodies are 128 MiB


def exchange(server: ServerProcess, data: bytes) -> bytes:
    """Send `data` whole on a fresh connection and read until the server closes it."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(data)
        return read_answer(sock)


def test_a_64_mib_header_gets_431_once_the_limit_has_arrived(server: ServerProcess) -> None:
    outcome = stream_long_head(server.port, 64 * 1024 * 1024)
    assert outcome.status == 431, outcome.answer[:300]
    error = json.loads(outcome.answer.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "request_header_fields_too_large"
    assert "65536 bytes" in error["message"] and "MNIST_MAX_HEADER_BYTES" in error["message"]
    # the answer came while the client was still sending: far less than the 64 MiB went out
    assert outcome.sent < 16 * 1024 * 1024, outcome.sent
    assert httpx.get(f"{server.base_url}/health/live").status_code == 200
    assert "Traceback" not in server.log_text()


def test_a_long_url_counts_towards_the_limit(server: ServerProcess) -> None:
    answer = exchange(server, b"GET /health/live?" + b"q" * 70_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_heads_within_the_limit_are_served_pipelined_too(server: ServerProcess) -> None:
    one = b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-pad: " + b"p" * 60_000 + b"\r\n\r\n"
    last = b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    answer = exchange(server, one * 3 + last)  # 180 KB in one write: each head is under 64 KiB
    assert answer.count(b"HTTP/1.1 200") == 4, answer[:300]


def test_the_head_limit_is_a_setting() -> None:
    with running_server("--model", "mnist-mlp", env={"MNIST_MAX_HEADER_BYTES": "2048"}) as server:
        small = (b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-pad: " + b"p" * 1500
                 + b"\r\nconnection: close\r\n\r\n")
        assert exchange(server, small).startswith(b"HTTP/1.1 200")
        answer = exchange(server, small.replace(b"p" * 1500, b"p" * 2500))
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert b"2048 bytes" in answer
