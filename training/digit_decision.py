"""The "not a digit" decision each trained model carries in its artifact (metadata `ood`).

    digit_score(x) = max_k z_k(x)           the largest logit, before any temperature
    is_digit(x)    = digit_score(x) >= threshold
    threshold      = the largest t accepting at least 99.5 % of the validation digits: the clean
                     ones and, when given, the same digits shifted as other sources hand them in
                     (training/shifts.py), so that the decision separates digits from non-digits
                     rather than MNIST from everything else

Chosen by measurement (benchmarks/README.md "Not a digit"): with outlier exposure
(training/outlier_exposure.py) max logit separates digits from every generated set at least as
well as max softmax, energy or a Mahalanobis distance; without it no score rejects a blank frame.
The figures recorded beside the threshold are measured here at training time, on the test digits
and on the evaluation sets of training/outliers (seed 16, 256 images each, never the training
pool's seed), so /v1/model can show what the decision is worth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from neuralnet.calibration import calibrated_logits
from neuralnet.losses import softmax
from training.calibration import calibration_measures
from training.outliers import DEFAULT_SEED, DEFAULT_SIZE, make_sets
from training.outliers.metrics import auroc, false_positive_rate, threshold_accepting

METHOD = "max_logit"
ACCEPT_VALIDATION = 0.995
CONFIDENT = 0.95

Logits = Callable[[np.ndarray], np.ndarray]  # raw 0-255 pixels (N, 28, 28) -> logits (N, K)
Labelled = dict[str, tuple[np.ndarray, np.ndarray]]  # set name -> (logits, labels)


def digit_score(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits, np.float64).max(axis=1)


def decide(val_logits: np.ndarray, test_logits: np.ndarray, logits_of: Logits,
           calibration: tuple[str, float], outlier_training: str, size: int = DEFAULT_SIZE,
           seed: int = DEFAULT_SEED, shifted_val_logits: np.ndarray | None = None,
           shifted_test: Labelled | None = None) -> dict[str, Any]:
    """The artifact's `ood` record: method, threshold and the figures that justify it; with
    `shifted_val_logits` the threshold is fitted on them and the clean validation digits together,
    and `shifted_test` (shifted test digits) adds accuracy, acceptance and ECE per shift."""
    val_scores, test_scores = digit_score(val_logits), digit_score(test_logits)
    fit_scores = val_scores
    if shifted_val_logits is not None:
        fit_scores = np.concatenate([val_scores, digit_score(shifted_val_logits)])
    threshold = threshold_accepting(fit_scores, ACCEPT_VALIDATION)
    sets: dict[str, dict[str, float]] = {}
    for name, images in make_sets(size, seed).items():
        z = logits_of(images)
        scores = digit_score(z)
        sets[name] = {
            "auroc": auroc(test_scores, scores),
            "answered_as_digit": false_positive_rate(scores, threshold),
            "confident_without_decision": float(
                (softmax(calibrated_logits(np.asarray(z, np.float64), *calibration)).max(axis=1)
                 > CONFIDENT).mean()),
        }
    shifted = {name: {"accuracy": float((z.argmax(axis=1) == labels).mean()),
                      "accepted": float((digit_score(z) >= threshold).mean()),
                      "ece": calibration_measures(z, labels, calibration[1], method=calibration[0])["ece"]}
               for name, (z, labels) in (shifted_test or {}).items()}
    return {
        "method": METHOD,
        "score": "the largest logit (before temperature); higher is more like a digit",
        "threshold": threshold,
        "accept_validation": ACCEPT_VALIDATION,
        "fitted_on": "validation digits" + (", clean and shifted" if shifted_val_logits is not None else ""),
        "validation_accepted": float((val_scores >= threshold).mean()),
        "shifted_validation_accepted": None if shifted_val_logits is None else float(
            (digit_score(shifted_val_logits) >= threshold).mean()),
        "test_accepted": float((test_scores >= threshold).mean()),
        "outlier_training": outlier_training,
        "evaluation": {"seed": seed, "size": size, "positives": "MNIST test digits", "sets": sets},
        "shifted": shifted,
    }
