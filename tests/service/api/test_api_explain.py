"""POST /v1/explain and /v1/explain/image: the prediction plus integrated-gradients saliency."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.models.explain import MAX_STEPS, TOLERANCE
from testkit.images import render
from tests.service.api.test_api_errors import assert_error

PREDICTION_FIELDS = {"digit", "probability", "probabilities", "is_digit", "digit_score", "model"}
EXPLANATION_FIELDS = {"saliency", "method", "baseline", "logit", "baseline_logit", "completeness_error",
                      "steps"}


def explained(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    saliency = np.array(body["saliency"])
    assert saliency.shape == (28, 28)
    # completeness: the attributions add up to the logit's rise from the black image
    assert saliency.sum() == pytest.approx(body["logit"] - body["baseline_logit"],
                                           rel=body["completeness_error"] + 1e-5)
    return body


@pytest.mark.parametrize("model", ["mnist-mlp", "mnist-cnn"])
def test_explain_gives_the_prediction_and_where_it_comes_from(client: TestClient, model: str,
                                                              example_digit: dict[str, Any]) -> None:
    pixels = example_digit["pixels"]
    body = explained(client.post(f"/v1/explain?model={model}", json={"pixels": pixels}))
    assert set(body) == PREDICTION_FIELDS | EXPLANATION_FIELDS
    predicted = client.post(f"/v1/predict?model={model}", json={"pixels": pixels}).json()
    assert {k: body[k] for k in PREDICTION_FIELDS} == predicted  # the same answer as /v1/predict
    assert body["digit"] == 7 and body["model"]["name"] == model
    assert (body["method"], body["baseline"]) == ("integrated_gradients", "black")
    assert body["completeness_error"] <= TOLERANCE or body["steps"] == MAX_STEPS
    saliency, ink = np.array(body["saliency"]), np.array(pixels) > 0
    assert not saliency[~ink].any()  # a black pixel is the baseline: it explains nothing
    # most of the evidence for the 7 sits on its strokes, and it is evidence for, not against
    assert saliency[ink].sum() > 0 and saliency.max() > -saliency.min()


def test_steps_can_be_fixed_and_more_are_closer(client: TestClient, example_digit: dict[str, Any]) -> None:
    errors = {}
    for steps in (2, 128):
        body = explained(client.post(f"/v1/explain?steps={steps}", json={"pixels": example_digit["pixels"]}))
        assert body["steps"] == steps
        errors[steps] = body["completeness_error"]
    assert errors[128] < errors[2]


@pytest.mark.parametrize("query", ["steps=0", f"steps={MAX_STEPS + 1}", "steps=many"])
def test_bad_steps_are_a_422_naming_the_parameter(client: TestClient, example_digit: dict[str, Any],
                                                  query: str) -> None:
    error = assert_error(client.post(f"/v1/explain?{query}", json={"pixels": example_digit["pixels"]}),
                         422, "invalid_input")
    assert error["details"][0]["loc"] == ["query", "steps"]


def test_a_bad_body_is_refused_as_by_predict(client: TestClient, example_digit: dict[str, Any]) -> None:
    short_row = [row[:] for row in example_digit["pixels"]]
    short_row[27] = short_row[27][:27]
    for url in ("/v1/explain", "/v1/predict"):
        error = assert_error(client.post(url, json={"pixels": short_row}), 422, "invalid_input")
        assert "row 27" in error["message"], error
    assert_error(client.post("/v1/explain", content=b"{", headers={"content-type": "application/json"}),
                 400, "bad_request")


def test_unknown_model_or_version_is_a_404(client: TestClient, example_digit: dict[str, Any]) -> None:
    for query in ("model=mnist-dnn", "version=99"):
        assert_error(client.post(f"/v1/explain?{query}", json={"pixels": example_digit["pixels"]}),
                     404, "not_found")


@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_explain_image_takes_the_upload_forms_and_returns_what_the_model_saw(
        client: TestClient, example_digit: dict[str, Any], how: str) -> None:
    png = render(np.array(example_digit["pixels"], np.uint8), 280, True)
    url = "/v1/explain/image?model=mnist-cnn"
    response = (client.post(url, files={"file": ("seven.png", png, "image/png")}) if how == "multipart"
                else client.post(url, content=png, headers={"content-type": "image/png"}))
    body = explained(response)
    assert set(body) == PREDICTION_FIELDS | EXPLANATION_FIELDS | {"input"}
    seen = np.array(body["input"])
    assert seen.shape == (28, 28) and body["digit"] == 7
    assert not np.array(body["saliency"])[seen == 0].any()
    predicted = client.post("/v1/predict/image?model=mnist-cnn", content=png,
                            headers={"content-type": "image/png"}).json()
    assert body["digit"] == predicted["digit"] and body["probabilities"] == predicted["probabilities"]


def test_explain_image_refuses_what_predict_image_refuses(client: TestClient) -> None:
    url = "/v1/explain/image"
    assert_error(client.post(url, content=b"not a png", headers={"content-type": "image/png"}),
                 422, "not_an_image")
    assert_error(client.post(url, content=b"{}", headers={"content-type": "application/json"}),
                 415, "unsupported_media_type")


def test_a_version_not_loaded_is_the_same_404_on_every_v1_route(client: TestClient,
                                                                 example_digit: dict[str, Any]) -> None:
    png = render(np.array(example_digit["pixels"], np.uint8), 56, False)
    body = {"pixels": example_digit["pixels"]}
    calls = {"/v1/predict": {"json": body}, "/v1/explain": {"json": body},
             "/v1/predict/batch": {"json": {"images": [example_digit["pixels"]]}},
             "/v1/predict/image": {"content": png, "headers": {"content-type": "image/png"}},
             "/v1/explain/image": {"content": png, "headers": {"content-type": "image/png"}}}
    for version in ("abc", "0", "99"):
        messages = {assert_error(client.post(f"{url}?version={version}", **kwargs), 404,
                                 "not_found")["message"] for url, kwargs in calls.items()}
        messages.add(assert_error(client.get(f"/v1/model?version={version}"), 404, "not_found")["message"])
        assert len(messages) == 1 and f"unknown version '{version}'" in messages.pop()
