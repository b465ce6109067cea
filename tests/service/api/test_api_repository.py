"""The model-repository routes through the app: guarded, and what a load, a canary, a shadow, a
promotion, a rollback, a refused version and a restart do to what answers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings
from service.main import create_app
from service.models.served_state import read_state
from testkit.artifacts import shipped_copy, tiny_artifact

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = "/v2/repository"


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """mnist-mlp versions 1 and 2 (the shipped model, so both pass the checks), a second model that
    passes them too, and an untrained one that start-up refuses."""
    weights = tmp_path / "weights"
    shipped_copy(weights, 1)
    shipped_copy(weights, 2)
    shipped_copy(weights, 1, name="other-mlp")
    tiny_artifact(weights, "tiny-mlp", version=1)
    return weights


def app_client(weights: Path, **settings: Any) -> TestClient:
    values: dict[str, Any] = {"weights_dir": weights, "model": "mnist-mlp", "admin_token": TOKEN, **settings}
    return TestClient(create_app(Settings(**values)))


@pytest.fixture
def client(weights: Path) -> Iterator[TestClient]:
    with app_client(weights) as test_client:
        yield test_client


def flat(image: list[list[int]]) -> list[int]:
    return [v for row in image for v in row]


def load(client: TestClient, name: str = "mnist-mlp", **parameters: Any) -> Any:
    return client.post(f"{REPO}/models/{name}/load", json={"parameters": parameters}, headers=AUTH)


def unload(client: TestClient, name: str = "mnist-mlp", **parameters: Any) -> Any:
    return client.post(f"{REPO}/models/{name}/unload", json={"parameters": parameters}, headers=AUTH)


def versions_answering(client: TestClient, digit: list[list[int]], n: int, query: str = "") -> Counter[int]:
    answers = [client.post(f"/v1/predict{query}", json={"pixels": digit}).json() for _ in range(n)]
    assert all(a["digit"] == 7 for a in answers)
    return Counter(a["model"]["version"] for a in answers)


def served(client: TestClient) -> dict[tuple[str, int], dict[str, Any]]:
    return {(v["name"], v["version"]): v for v in client.get("/v1/models").json()["served"]}


def test_a_configured_token_is_compared_without_surrounding_whitespace(weights: Path) -> None:
    with app_client(weights, admin_token=f" {TOKEN}\n") as client:  # as read from a file
        assert client.post(f"{REPO}/index", headers=AUTH).status_code == 200
    with app_client(weights, admin_token=" \n") as off:  # nothing but whitespace: off, not "anyone"
        assert off.post(f"{REPO}/index", headers={"Authorization": "Bearer "}).status_code == 403


def test_the_routes_are_off_without_a_token_and_refuse_a_wrong_one(weights: Path) -> None:
    with app_client(weights, admin_token=None) as off:
        answer = off.post(f"{REPO}/index", headers=AUTH)
        assert answer.status_code == 403 and "MNIST_ADMIN_TOKEN" in answer.json()["error"]
    with app_client(weights) as guarded:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
            answer = guarded.post(f"{REPO}/models/mnist-mlp/load", headers=headers)
            assert answer.status_code == 401 and set(answer.json()) == {"error"}
        assert guarded.post("/v1/predict", json={"pixels": [[0] * 28] * 28}).status_code == 200
        extensions = guarded.get("/v2").json()["extensions"]
        assert "model_repository" in extensions


def test_index_lists_every_version_on_disk_and_which_are_ready(client: TestClient) -> None:
    index = client.post(f"{REPO}/index", headers=AUTH).json()
    states = {(e["name"], e["version"]): (e["state"], e["reason"]) for e in index}
    assert "below the minimum" in states.pop(("tiny-mlp", "1"))[1]  # refused at start-up, and why
    assert states == {("mnist-mlp", "1"): ("UNAVAILABLE", "not loaded"),
                      ("mnist-mlp", "2"): ("READY", "served"), ("other-mlp", "1"): ("READY", "served")}
    ready = client.post(f"{REPO}/index", json={"ready": True}, headers=AUTH).json()
    assert {(e["name"], e["version"]) for e in ready} == {("mnist-mlp", "2"), ("other-mlp", "1")}


def test_a_replace_serves_the_new_version_from_the_next_request_and_is_recorded(
        client: TestClient, example_digit: dict[str, Any], own_served_versions_record: Path) -> None:
    digit = example_digit["pixels"]
    assert load(client, version="1").status_code == 200
    assert versions_answering(client, digit, 5) == {1: 5}
    assert client.post("/v1/predict?version=2", json={"pixels": digit}).status_code == 404
    assert read_state(own_served_versions_record)["mnist-mlp"].version == 1  # type: ignore[index]
    v2 = client.post("/v2/models/mnist-mlp/infer", json={"inputs": [
        {"name": "images", "shape": [1, 784], "datatype": "UINT8", "data": flat(digit)}]}).json()
    assert v2["model_version"] == "1"


def info_series(client: TestClient) -> set[tuple[str, str, str]]:
    return {(s.labels["name"], s.labels["version"], s.labels["role"])
            for family in text_string_to_metric_families(client.get("/metrics").text)
            for s in family.samples if s.name == "mnist_model_info"}


def test_the_info_series_of_a_replaced_or_unloaded_version_disappears(client: TestClient) -> None:
    assert info_series(client) == {("mnist-mlp", "2", "served"), ("other-mlp", "1", "served")}
    assert load(client, version="1", rollout="canary", percent=10).status_code == 200
    assert info_series(client) == {("mnist-mlp", "2", "served"), ("mnist-mlp", "1", "candidate"),
                                   ("other-mlp", "1", "served")}
    assert load(client, version="1").status_code == 200  # promoted
    assert unload(client, "other-mlp").status_code == 200
    assert info_series(client) == {("mnist-mlp", "1", "served")}


def test_canary_answers_its_share_and_reports_agreement(client: TestClient, example_digit: dict[str, Any],
                                                        weights: Path) -> None:
    shipped_copy(weights, 3)
    assert load(client, version="3", rollout="canary", percent=50).status_code == 200
    counts = versions_answering(client, example_digit["pixels"], 200)
    assert set(counts) == {2, 3} and 60 <= counts[3] <= 140  # 50 % of 200; 60-140 is beyond 5 sigma
    assert versions_answering(client, example_digit["pixels"], 20, "?version=2") == {2: 20}
    deadline = time.monotonic() + 5
    while served(client)[("mnist-mlp", 3)]["compared_images"] < counts[3]:
        assert time.monotonic() < deadline, served(client)
        time.sleep(0.05)
    candidate = served(client)[("mnist-mlp", 3)]
    assert (candidate["role"], candidate["rollout"], candidate["percent"]) == ("candidate", "canary", 50)
    assert candidate["agreement"] == 1.0  # the same weights: they agree on every image


def test_shadow_computes_every_request_and_a_different_candidate_shows_it(
        client: TestClient, weights: Path, example_digit: dict[str, Any]) -> None:
    shipped_copy(weights, 3, noise=0.5)  # noisy weights: disagrees on some images, passes the gate
    assert load(client, version="3", rollout="shadow").status_code == 200
    # the candidate reads the example right (its load checks it), not the noise images
    noise = np.random.default_rng(0).integers(0, 256, (8, 784)).tolist()
    images = [flat(example_digit["pixels"])] * 8 + noise
    for _ in range(10):
        answer = client.post("/v1/predict/batch", json={"images": images}).json()
        assert answer["model"] == {"name": "mnist-mlp", "version": 2}
    deadline = time.monotonic() + 5
    while served(client)[("mnist-mlp", 3)]["compared_images"] < 160:
        assert time.monotonic() < deadline, served(client)
        time.sleep(0.05)
    candidate = served(client)[("mnist-mlp", 3)]
    assert candidate["requests"] == 0 and candidate["rollout"] == "shadow"
    assert 0 < candidate["agreed_images"] < 160  # they disagree on some images, agree on others
    assert candidate["agreement"] == round(candidate["agreed_images"] / 160, 6)
    metrics = client.get("/metrics").text
    assert 'mnist_candidate_compared_images_total{model="mnist-mlp",version="3"} 160.0' in metrics
    assert 'mnist_model_info{name="mnist-mlp",role="candidate",version="3"} 1.0' in metrics


def test_promote_then_roll_back(client: TestClient, weights: Path, example_digit: dict[str, Any]) -> None:
    shipped_copy(weights, 3)
    assert load(client, version="3", rollout="shadow").status_code == 200
    assert unload(client, version="2").status_code == 409  # the served version, under a rollout
    assert load(client, version="3", rollout="replace").status_code == 200  # promote
    assert versions_answering(client, example_digit["pixels"], 5) == {3: 5}
    assert [(v["version"], v["role"]) for v in served(client).values() if v["name"] == "mnist-mlp"] == [
        (3, "served")]
    assert load(client, version="2", rollout="canary", percent=100).status_code == 200
    assert versions_answering(client, example_digit["pixels"], 5) == {2: 5}
    assert unload(client, version="2").status_code == 200  # roll back the canary
    assert versions_answering(client, example_digit["pixels"], 5) == {3: 5}


@pytest.mark.parametrize(("make", "words"), [
    (lambda w: shipped_copy(w, 3, test_accuracy=0.5), ["50.00%", "MNIST_MIN_ACCURACY"]),
    (lambda w: (w / "mnist-mlp" / "3.npz").write_bytes(b"PK\x03\x04 not really a zip"), ["cannot be loaded"]),
    (lambda w: shipped_copy(w, 3, swap=(7, 1)), ["answers 1 for the example digit, a 7"]),
], ids=["low accuracy", "corrupt file", "wrong answer"])
def test_a_version_that_fails_its_checks_is_refused_and_the_old_one_keeps_serving(
        client: TestClient, weights: Path, example_digit: dict[str, Any], make: Any,
        words: list[str]) -> None:
    make(weights)
    for rollout in ("replace", "canary"):
        answer = load(client, version="3", rollout=rollout, percent=50)
        assert answer.status_code == 409
        for word in [*words, "3.npz", "unchanged"]:
            assert word in answer.json()["error"]
        assert versions_answering(client, example_digit["pixels"], 5) == {2: 5}
    entry = [e for e in client.post(f"{REPO}/index", headers=AUTH).json() if e["version"] == "3"]
    assert entry[0]["state"] == "UNAVAILABLE" and words[0] in entry[0]["reason"]


@pytest.mark.parametrize(("call", "parameters", "status", "words"), [
    ("load", {"version": "9"}, 404, ["no version 9"]),
    ("load", {"version": "x"}, 400, ["positive integer"]),
    ("load", {"rollout": "blue-green"}, 400, ["replace, canary, shadow"]),
    ("load", {"version": "1", "rollout": "canary"}, 400, ["percent"]),
    ("load", {"version": "2", "rollout": "shadow"}, 409, ["served version already"]),
    ("unload", {}, 409, ["default model"]),
    ("unload", {"version": "1"}, 404, ["not loaded"]),
    ("load", {"config": '{"max_batch_size": 8}'}, 400, ["parameters.config is not supported",
                                                        "version, rollout, percent"]),
    ("load", {"version": "2", "file:1/model.npz": "AAAA"}, 400, ["parameters.file:1/model.npz"]),
    ("unload", {"unload_dependents": True}, 400, ["parameters.unload_dependents", "takes version"]),
    ("load", {"version": "9" * 5000}, 400, ["at most 9 digits"]),
    ("unload", {"version": "9" * 5000}, 400, ["at most 9 digits"]),
], ids=["missing version", "bad version", "bad rollout", "canary without percent", "shadow of itself",
        "unload the default", "unload an unloaded version", "Triton's config override",
        "Triton's file override", "unknown unload parameter", "over-long version on load",
        "over-long version on unload"])
def test_bad_calls_say_why(client: TestClient, call: str, parameters: dict[str, Any], status: int,
                           words: list[str]) -> None:
    answer = (load if call == "load" else unload)(client, **parameters)
    assert answer.status_code == status
    for word in words:
        assert word in answer.json()["error"]


def test_unload_a_model_and_load_it_again(client: TestClient) -> None:
    assert unload(client, "other-mlp").status_code == 200
    missing = client.post("/v1/predict?model=other-mlp", json={"pixels": [[0] * 28] * 28})
    assert missing.status_code == 404 and "unknown model 'other-mlp'" in missing.json()["error"]["message"]
    assert client.get("/v2/models/other-mlp/ready").status_code == 404
    assert unload(client, "other-mlp").status_code == 404
    assert load(client, "nope").status_code == 404
    assert load(client, "other-mlp").status_code == 200
    assert client.post("/v1/predict?model=other-mlp", json={"pixels": [[0] * 28] * 28}).status_code == 200
    assert load(client, "tiny-mlp").status_code == 409  # its recorded accuracy, 50 %, is too low


def test_a_restart_serves_the_recorded_versions_not_the_newest_file(weights: Path,
                                                                     example_digit: dict[str, Any]) -> None:
    with app_client(weights) as first:
        assert load(first, version="1").status_code == 200
        assert unload(first, "other-mlp").status_code == 200
    shipped_copy(weights, 3)  # a newer file appears: nobody tested it
    with app_client(weights) as second:
        assert versions_answering(second, example_digit["pixels"], 3) == {1: 3}
        assert ("other-mlp", 1) not in served(second)


def test_models_lists_the_versions_start_up_refused_and_the_record(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    (refused,) = [entry for entry in body["unavailable"] if entry["name"] == "tiny-mlp"]
    assert refused["version"] == 1 and refused["state"] == "UNAVAILABLE"
    assert "below the minimum" in refused["reason"]
    assert body["record"]["problem"] is None and body["record"]["path"].endswith(".json")
