"""The /v1 answers: one dict per image (digit, calibrated probabilities, the "not a digit"
decision, the version that answered), and the explanation's fields added to one."""

from __future__ import annotations

from typing import Any

import numpy as np

from service.codecs.pixels import SIDE
from service.models.explain import Explanation
from service.models.loaded_model import LoadedModel, Predictions


def predictions(model: LoadedModel, answered: Predictions) -> list[dict[str, Any]]:
    digits, proba = answered.digits, answered.proba
    who = model.ident
    best = proba[np.arange(len(digits)), digits]
    n = len(digits)
    # tolist() turns the whole batch into Python numbers in C, not per value in Python
    is_digit = answered.is_digit.tolist() if answered.is_digit is not None else [None] * n
    scores = answered.scores.tolist() if answered.scores is not None else [None] * n
    return [{"digit": d, "probability": p, "probabilities": row, "is_digit": ok, "digit_score": s,
             "model": who}
            for d, p, row, ok, s in zip(digits.tolist(), best.tolist(), proba.tolist(), is_digit,
                                        scores, strict=True)]


def explanation(model: LoadedModel, answered: Predictions, found: Explanation) -> dict[str, Any]:
    """The prediction's answer for one image plus the saliency of its digit."""
    result = predictions(model, answered)[0]
    result.update({
        "saliency": np.round(found.saliency.reshape(SIDE, SIDE), 6),
        "method": "integrated_gradients", "baseline": "black",
        "logit": found.logit, "baseline_logit": found.baseline_logit,
        "completeness_error": found.completeness_error, "steps": found.steps,
    })
    return result
