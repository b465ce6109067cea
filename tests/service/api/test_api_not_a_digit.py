"""The "not a digit" decision and the calibrated probabilities in the answers (issue 16), on the
shipped MLP the `client` fixture serves, and on an older version without them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from neuralnet.artifact import load_artifact
from neuralnet.calibration import calibrated_logits, calibration_of
from neuralnet.inference import InferenceModel
from neuralnet.losses import softmax
from service.config import Settings
from service.main import create_app
from testkit.artifacts import shipped_copy
from testkit.images import encode
from testkit.shipped import newest_shipped

RNG = np.random.default_rng(16)


@pytest.fixture(scope="module")
def served(weights_dir: Path) -> InferenceModel:
    """The core's model of the version `client` serves, to recompute its answers."""
    path = weights_dir / "mnist-mlp" / f"{newest_shipped('mnist-mlp')}.npz"
    return InferenceModel.from_artifact(load_artifact(path))


@pytest.fixture(scope="module")
def threshold(client: TestClient) -> float:
    ood = client.get("/v1/model").json()["ood"]
    assert ood is not None, "the newest shipped mnist-mlp has a decision"
    return float(ood["threshold"])


def non_digits() -> dict[str, np.ndarray]:
    return {"blank": np.zeros((28, 28)), "grey": np.full((28, 28), 128.0),
            "noise": RNG.integers(0, 256, (28, 28)).astype(float),
            "bright specks": np.where(RNG.random((28, 28)) < 0.05, 255.0, 0.0)}


def test_a_digit_is_a_digit_and_the_score_is_the_largest_logit(client: TestClient, served: InferenceModel,
                                                                threshold: float,
                                                                example_digit: dict[str, Any]) -> None:
    answer = client.post("/v1/predict", json={"pixels": example_digit["pixels"]}).json()
    assert answer["digit"] == 7 and answer["is_digit"] is True
    logits = served.logits(np.array(example_digit["pixels"], np.float32).reshape(1, 784))
    assert answer["digit_score"] == pytest.approx(float(logits.max()), rel=1e-5)
    assert answer["digit_score"] >= threshold


@pytest.mark.parametrize("name", list(non_digits()))
def test_non_digits_are_answered_as_not_a_digit_with_every_field_still_there(
        client: TestClient, threshold: float, name: str) -> None:
    answer = client.post("/v1/predict", json={"pixels": non_digits()[name].tolist()}).json()
    assert answer["is_digit"] is False and answer["digit_score"] < threshold
    assert answer["digit"] == int(np.argmax(answer["probabilities"]))
    assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-5)


def test_the_batch_decides_each_image_in_order(client: TestClient, example_digit: dict[str, Any],
                                               threshold: float) -> None:
    images = [example_digit["pixels"], non_digits()["blank"].tolist(), example_digit["pixels"],
              non_digits()["noise"].tolist()]
    predictions = client.post("/v1/predict/batch", json={"images": images}).json()["predictions"]
    assert [p["is_digit"] for p in predictions] == [True, False, True, False]
    assert all(p["is_digit"] == (p["digit_score"] >= threshold) for p in predictions)


def test_probabilities_are_the_recorded_calibration_of_the_logits(client: TestClient, served: InferenceModel,
                                                                  weights_dir: Path) -> None:
    pixels = RNG.integers(0, 256, (3, 784)).astype(np.float32)
    pixels[0] = np.array(client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]
                         ["content"]["application/json"]["example"]["pixels"]).reshape(784)
    answers = client.post("/v1/predict/batch", json={"images": pixels.tolist()}).json()["predictions"]
    meta = load_artifact(weights_dir / "mnist-mlp" / f"{newest_shipped('mnist-mlp')}.npz").metadata
    calibration = calibration_of(meta)
    assert calibration is not None
    expected = softmax(calibrated_logits(served.logits(pixels).astype(np.float64), *calibration))
    np.testing.assert_allclose([a["probabilities"] for a in answers], expected, atol=1e-5)


def test_an_image_of_noise_is_not_a_digit(client: TestClient) -> None:
    from PIL import Image

    noise = Image.fromarray(RNG.integers(0, 256, (200, 200), dtype=np.uint8))
    response = client.post("/v1/predict/image?model=mnist-mlp", content=encode(noise),
                           headers={"content-type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.json()["is_digit"] is False


def test_the_model_shows_its_decision_and_the_figures_recorded_at_training(client: TestClient,
                                                                           weights_dir: Path) -> None:
    info = client.get("/v1/model").json()
    meta = load_artifact(weights_dir / "mnist-mlp" / f"{info['version']}.npz").metadata
    assert info["ood"] == meta["ood"] and info["calibration"] == meta["calibration"]
    assert info["ood"]["method"] == "max_logit" and info["ood"]["validation_accepted"] >= 0.995
    sets = info["ood"]["evaluation"]["sets"]
    assert sets["blank"]["answered_as_digit"] == 0 and sets["uniform"]["auroc"] > 0.99


@pytest.fixture(scope="module")
def older(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app serving only version 1 of mnist-mlp: trained before the decision and calibration."""
    weights = tmp_path_factory.mktemp("older")
    shipped_copy(weights, 1)
    with TestClient(create_app(Settings(weights_dir=weights, state_path=weights / "serving.json"))) as c:
        yield c


def test_an_older_version_answers_without_a_decision(older: TestClient,
                                                     example_digit: dict[str, Any]) -> None:
    answer = older.post("/v1/predict", json={"pixels": example_digit["pixels"]}).json()
    assert answer["digit"] == 7 and answer["is_digit"] is None and answer["digit_score"] is None
    info = older.get("/v1/model").json()
    assert info["version"] == 1 and info["ood"] is None and info["calibration"] is None
    outputs = older.get("/v2/models/mnist-mlp").json()["outputs"]
    assert [o["name"] for o in outputs] == ["probabilities", "digit"]
    asked = {"inputs": [{"name": "images", "shape": [1, 784], "datatype": "UINT8", "data": [0] * 784}],
             "outputs": [{"name": "is_digit"}]}
    refused = older.post("/v2/models/mnist-mlp/infer", json=asked)
    assert refused.status_code == 400 and "no 'not a digit' decision" in refused.json()["error"]
