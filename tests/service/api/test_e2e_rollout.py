"""Rollouts against the real server under continuous load: five load / shadow / canary / promote /
rollback cycles, refused candidates among them, while clients send single, batch and v2 requests.
No request may fail, and every answer must come from a version that was answering at that moment;
with two workers, the one that did not take the call may lag by the sync interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.models.manager import SYNC_SECONDS
from testkit.artifacts import shipped_copy
from testkit.server import running_server

TOKEN = "rollout-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Answer:
    sent: float
    received: float
    status: int
    version: int | None


@dataclass
class Change:
    started: float
    done: float
    answering: frozenset[int]  # the versions that may answer unpinned requests after it


def flat(pixels: list[list[int]]) -> list[int]:
    return [v for row in pixels for v in row]


def requests(digit: list[list[int]]) -> list[Callable[[httpx.Client], tuple[int, int | None]]]:
    def single(c: httpx.Client) -> tuple[int, int | None]:
        r = c.post("/v1/predict", json={"pixels": digit})
        return r.status_code, r.json()["model"]["version"] if r.status_code == 200 else None

    def batch(c: httpx.Client) -> tuple[int, int | None]:
        r = c.post("/v1/predict/batch", json={"images": [digit] * 8})
        return r.status_code, r.json()["model"]["version"] if r.status_code == 200 else None

    def v2(c: httpx.Client) -> tuple[int, int | None]:
        r = c.post("/v2/models/mnist-mlp/infer", json={"inputs": [
            {"name": "images", "shape": [1, 784], "datatype": "UINT8", "data": flat(digit)}]})
        return r.status_code, int(r.json()["model_version"]) if r.status_code == 200 else None

    return [single, batch, v2]


def run_load(base_url: str, send: Callable[[httpx.Client], tuple[int, int | None]], stop: threading.Event,
             out: list[Answer]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                status, version = send(client)
            except httpx.HTTPError:
                status, version = -1, None
            out.append(Answer(sent, time.monotonic(), status, version))


# (parameters of the call, whether it must succeed, the versions answering unpinned requests after it)
CYCLE: list[tuple[str, dict[str, Any], int, frozenset[int]]] = [
    ("load", {"version": "2", "rollout": "shadow"}, 200, frozenset({1})),
    ("load", {"version": "2", "rollout": "canary", "percent": 30}, 200, frozenset({1, 2})),
    ("load", {"version": "4", "rollout": "canary", "percent": 30}, 409, frozenset({1, 2})),  # refused
    ("load", {"version": "2", "rollout": "replace"}, 200, frozenset({2})),  # promote
    ("load", {"version": "3", "rollout": "canary", "percent": 50}, 200, frozenset({2, 3})),
    ("unload", {"version": "3"}, 200, frozenset({2})),  # roll back
    ("load", {"version": "5", "rollout": "replace"}, 409, frozenset({2})),  # refused: corrupt
    ("load", {"version": "3", "rollout": "replace"}, 200, frozenset({3})),
    ("load", {"version": "1", "rollout": "shadow"}, 200, frozenset({3})),
    ("load", {"version": "1", "rollout": "replace"}, 200, frozenset({1})),
]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_rollout_cycles_under_load_drop_nothing_and_answer_from_serving_versions(
        tmp_path: Path, example_digit: dict[str, Any], workers: int) -> None:
    weights = tmp_path / "weights"
    for version in (1, 2, 3):
        shipped_copy(weights, version)
    shipped_copy(weights, 4, test_accuracy=0.5)
    (weights / "mnist-mlp" / "5.npz").write_bytes(b"not an artifact")
    env = {"MNIST_ADMIN_TOKEN": TOKEN, "MNIST_STATE_PATH": str(tmp_path / "serving.json"),
           "MNIST_ACCESS_LOG": "false"}
    with running_server("--weights-dir", str(weights), "--model", "mnist-mlp", "--version", "1",
                        "--workers", str(workers), env=env, timeout=60) as server:
        stop, answers = threading.Event(), [list[Answer]() for _ in range(6)]
        senders = requests(example_digit["pixels"]) * 2
        threads = [threading.Thread(target=run_load, args=(server.base_url, send, stop, out))
                   for send, out in zip(senders, answers, strict=True)]
        for thread in threads:
            thread.start()
        changes = [Change(0.0, time.monotonic(), frozenset({1}))]
        with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=30) as admin:
            for _ in range(5):  # five cycles of 10 calls
                for call, parameters, status, answering in CYCLE:
                    time.sleep(0.3)
                    started = time.monotonic()
                    reply = admin.post(f"/v2/repository/models/mnist-mlp/{call}",
                                       json={"parameters": parameters})
                    assert reply.status_code == status, (call, parameters, reply.text)
                    changes.append(Change(started, time.monotonic(), answering))
            time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join()
    everything = [a for out in answers for a in out]
    assert len(everything) > 200 and all(a.status == 200 for a in everything), \
        {a.status for a in everything}
    lag = 0.0 if workers == 1 else 3 * SYNC_SECONDS  # another worker follows the record within this
    for answer in everything:
        allowed: set[int] = set()
        for before, after in zip(changes, [*changes[1:], None], strict=True):
            # `before.answering` holds from its call's start until the next call is done (+ lag)
            until = float("inf") if after is None else after.done + lag
            if before.started <= answer.received and answer.sent <= until:
                allowed |= before.answering
        assert answer.version in allowed, (answer, allowed)


def served_versions(base_url: str) -> list[tuple[str, int, str]]:
    """/v1/models' loaded versions, asked on a new connection (so any worker may answer)."""
    listing = httpx.get(f"{base_url}/v1/models", headers={"connection": "close"}).json()
    return sorted((v["name"], v["version"], v["role"]) for v in listing["served"])


def test_every_worker_follows_a_call_within_seconds(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    shipped_copy(weights, 1)
    shipped_copy(weights, 2)
    env = {"MNIST_ADMIN_TOKEN": TOKEN, "MNIST_STATE_PATH": str(tmp_path / "serving.json")}
    with running_server("--weights-dir", str(weights), "--version", "1", "--model", "mnist-mlp",
                        "--workers", "2", env=env, timeout=60) as server:
        # the call goes to the first worker ready, maybe before the second has started: that one
        # must start from the record with the call in it, not from the pinned --version 1
        reply = httpx.post(f"{server.base_url}/v2/repository/models/mnist-mlp/load", headers=AUTH,
                           json={"parameters": {"version": "2", "rollout": "canary", "percent": 10}})
        assert reply.status_code == 200, reply.text
        expected = [("mnist-mlp", 1, "served"), ("mnist-mlp", 2, "candidate")]
        deadline = time.monotonic() + 3 * SYNC_SECONDS + 10  # + a second worker still starting
        while any(served_versions(server.base_url) != expected for _ in range(8)):
            assert time.monotonic() < deadline, [served_versions(server.base_url) for _ in range(4)]
            time.sleep(0.2)


def test_watch_mode_loads_a_new_version_and_skips_a_refused_one(tmp_path: Path,
                                                                example_digit: dict[str, Any]) -> None:
    weights = tmp_path / "weights"
    shipped_copy(weights, 1)
    env = {"MNIST_WATCH_SECONDS": "0.2", "MNIST_STATE_PATH": str(tmp_path / "serving.json")}
    with running_server("--weights-dir", str(weights), "--model", "mnist-mlp", env=env) as server:
        def version() -> int:
            answer = httpx.post(f"{server.base_url}/v1/predict", json={"pixels": example_digit["pixels"]})
            return int(answer.json()["model"]["version"])

        assert version() == 1
        shipped_copy(weights, 2, test_accuracy=0.5)  # refused: its recorded accuracy is too low
        shipped_copy(weights, 3)
        deadline = time.monotonic() + 5
        while version() != 3:
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.1)
        shipped_copy(weights, 4, test_accuracy=0.5)
        time.sleep(1.5)
        assert version() == 3 and "new version refused (watch)" in server.log_text()
