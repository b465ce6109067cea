"""Batching in the real server (the CNN batches by default): the in-flight limit still answers
503 at once, and a graceful stop answers every request the batcher holds."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from testkit.server import ServerProcess, running_server

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[3] / "service" / "static" / "example_digit.json"
BODY = json.dumps({"pixels": json.loads(EXAMPLE.read_text())["pixels"]}).encode()


def fire(server: ServerProcess, n: int, path: str = "/v1/predict") -> list[httpx.Response | Exception]:
    """`n` requests at once, each on its own connection; their answers (or errors) in order."""
    answers: list[Any] = [None] * n
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        try:
            answers[i] = httpx.post(f"{server.base_url}{path}", content=BODY, timeout=60, trust_env=False,
                                    headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            answers[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return answers


def batched_images(server: ServerProcess) -> float:
    text = httpx.get(f"{server.base_url}/metrics", trust_env=False).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "mnist_batcher_batch_size_sum")


def test_the_in_flight_limit_still_answers_503_at_once(tmp_path: Path) -> None:
    with running_server("--model", "mnist-cnn", env={"MNIST_MAX_IN_FLIGHT": "2"}, log_dir=tmp_path) as server:
        answers = fire(server, 24)
        statuses = [a.status_code for a in answers if isinstance(a, httpx.Response)]
        assert len(statuses) == 24 and set(statuses) <= {200, 503} and 503 in statuses and 200 in statuses
        busy = next(a for a in answers if isinstance(a, httpx.Response) and a.status_code == 503)
        assert busy.headers["retry-after"] == "1" and busy.json()["error"]["code"] == "overloaded"
        assert batched_images(server) == statuses.count(200)  # the answered ones went through the batcher


def test_a_graceful_stop_answers_every_request_the_batcher_holds(tmp_path: Path) -> None:
    with running_server("--model", "mnist-cnn", log_dir=tmp_path) as server:
        results: list[Any] = []
        load = threading.Thread(target=lambda: results.extend(fire(server, 32)))
        load.start()
        deadline = threading.Event()
        # stop while requests are in flight: as soon as the first has reached the batcher
        for _ in range(200):
            if batched_images(server) > 0:
                break
            deadline.wait(0.01)
        code = server.stop()
        load.join(90)
    answered = [r for r in results if isinstance(r, httpx.Response)]
    assert code == 0
    # every request the server accepted before the stop was answered; none failed half way
    assert answered and all(r.status_code == 200 for r in answered), [getattr(r, "status_code", r)
                                                                      for r in results]
    # the others never reached a worker: refused, or closed by the stop before their request was read
    # (a request still unread in the socket's buffer, or in the listen queue, is reset: a read error)
    unanswered = [r for r in results if not isinstance(r, httpx.Response)]
    assert all(isinstance(r, httpx.ConnectError | httpx.RemoteProtocolError | httpx.ReadError)
               for r in unanswered), [repr(r) for r in unanswered]
