"""POST /v1/predict and /v1/predict/batch with good input: the answer and its shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.main import create_app
from testkit.shipped import served_ref
from training.data import Mnist

SMALL_LIMIT = 4


@pytest.fixture(scope="module")
def small_batch_client(weights_dir: Path) -> Iterator[TestClient]:
    settings = Settings(weights_dir=weights_dir, model="mnist-mlp", max_batch_size=SMALL_LIMIT)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def flat(image: list[list[Any]]) -> list[Any]:
    return [v for row in image for v in row]


def predict(client: TestClient, pixels: Any) -> dict[str, Any]:
    response = client.post("/v1/predict", json={"pixels": pixels})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_prediction(p: dict[str, Any]) -> None:
    assert set(p) == {"digit", "probability", "probabilities", "is_digit", "digit_score", "model"}
    assert (p["is_digit"] is None) == (p["digit_score"] is None)  # a decision gives both or neither
    probs = p["probabilities"]
    assert len(probs) == 10
    assert all(0.0 <= q <= 1.0 for q in probs)
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert isinstance(p["digit"], int) and 0 <= p["digit"] <= 9
    assert p["digit"] == int(np.argmax(probs))
    assert p["probability"] == max(probs)
    assert p["model"] == served_ref("mnist-mlp")


def test_predict_nested_image_returns_the_digit(client: TestClient, example_digit: dict[str, Any]) -> None:
    p = predict(client, example_digit["pixels"])
    assert_prediction(p)
    assert p["digit"] == example_digit["label"] == 7
    assert p["probability"] > 0.9


def test_flat_784_list_gives_the_same_answer_as_28_rows(client: TestClient,
                                                       example_digit: dict[str, Any]) -> None:
    nested = predict(client, example_digit["pixels"])
    flat_answer = predict(client, flat(example_digit["pixels"]))
    assert flat_answer["digit"] == nested["digit"]
    assert flat_answer["probabilities"] == pytest.approx(nested["probabilities"], abs=1e-7)


def test_float_pixels_are_accepted(client: TestClient, example_digit: dict[str, Any]) -> None:
    as_ints = predict(client, example_digit["pixels"])
    floats = [[float(v) for v in row] for row in example_digit["pixels"]]
    assert predict(client, floats)["probabilities"] == pytest.approx(as_ints["probabilities"], abs=1e-7)
    # fractional values anywhere in 0-255 (e.g. an anti-aliased canvas) are fine too
    fractional = [[min(255.0, v * 0.999 + 0.25) for v in row] for row in example_digit["pixels"]]
    p = predict(client, fractional)
    assert_prediction(p)
    assert p["digit"] == 7


@pytest.mark.parametrize("value", [0, 255, 0.0, 255.0])
def test_range_bounds_are_accepted(client: TestClient, value: float) -> None:
    assert_prediction(predict(client, [[value] * 28 for _ in range(28)]))


def test_batch_with_mixed_forms_matches_single_predictions_in_order(
        client: TestClient, example_digit: dict[str, Any]) -> None:
    seven = example_digit["pixels"]
    shifted = np.roll(np.array(seven), 3, axis=1).tolist()
    thick = np.clip(np.array(seven) * 1.5 + 0.5, 0, 255).tolist()
    images = [seven, flat(seven), [0] * 784, shifted, flat(thick), [[255] * 28] * 28]
    response = client.post("/v1/predict/batch", json={"images": images})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"predictions", "model"}
    assert body["model"] == served_ref("mnist-mlp")
    assert len(body["predictions"]) == len(images)
    singles = [predict(client, image) for image in images]
    for got, want in zip(body["predictions"], singles, strict=True):
        assert_prediction(got)
        assert got["digit"] == want["digit"]
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-6)
    # the images differ, so order matters: not every answer is the same
    assert len({tuple(np.round(p["probabilities"], 4)) for p in body["predictions"]}) > 1


@pytest.mark.mnist
def test_real_mnist_test_images_are_mostly_right(client: TestClient, mnist: Mnist) -> None:
    images = mnist.test_images[:50]
    labels = mnist.test_labels[:50]
    response = client.post("/v1/predict/batch", json={"images": images.tolist()})
    assert response.status_code == 200, response.text
    digits = np.array([p["digit"] for p in response.json()["predictions"]])
    assert (digits == labels).mean() >= 0.95


def test_batch_of_exactly_the_limit_is_served(small_batch_client: TestClient,
                                              example_digit: dict[str, Any]) -> None:
    response = small_batch_client.post("/v1/predict/batch",
                                       json={"images": [example_digit["pixels"]] * SMALL_LIMIT})
    assert response.status_code == 200, response.text
    assert [p["digit"] for p in response.json()["predictions"]] == [7] * SMALL_LIMIT


def test_batch_over_the_limit_is_refused_naming_the_limit(small_batch_client: TestClient,
                                                          example_digit: dict[str, Any]) -> None:
    response = small_batch_client.post("/v1/predict/batch",
                                       json={"images": [example_digit["pixels"]] * (SMALL_LIMIT + 1)})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert f"limit of {SMALL_LIMIT}" in error["message"]
    assert str(SMALL_LIMIT + 1) in error["message"]
    assert error["details"][0]["loc"] == ["body", "images"]


def test_single_image_endpoint_is_not_limited_by_batch_size(small_batch_client: TestClient,
                                                            example_digit: dict[str, Any]) -> None:
    response = small_batch_client.post("/v1/predict", json={"pixels": example_digit["pixels"]})
    assert response.status_code == 200
