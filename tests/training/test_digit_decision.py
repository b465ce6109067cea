"""The "not a digit" decision recorded at training time: its threshold and its figures."""

from __future__ import annotations

import numpy as np
import pytest

from training.digit_decision import ACCEPT_VALIDATION, decide, digit_score

RNG = np.random.default_rng(7)


def logits_with_top(top: np.ndarray) -> np.ndarray:
    """Logits whose largest value is `top` (class 0), the rest below it."""
    z = np.full((len(top), 10), -5.0)
    z[:, 0] = top
    return z


def test_the_score_is_the_largest_logit() -> None:
    assert digit_score(np.array([[1.0, 4.0, -2.0], [0.5, 0.1, 0.2]])).tolist() == [4.0, 0.5]


def test_threshold_accepts_the_share_of_validation_digits_and_figures_follow_it() -> None:
    val = logits_with_top(RNG.uniform(5, 15, 2000))
    test = logits_with_top(RNG.uniform(5, 15, 1000))
    # a fake network: any image with ink looks like a digit, a blank one (levels 0-3) does not
    def logits_of(images: np.ndarray) -> np.ndarray:
        return logits_with_top(np.where(images.reshape(len(images), -1).max(axis=1) > 3, 10.0, 1.0))

    record = decide(val, test, logits_of, ("temperature", 1.0), "none", size=16)
    assert record["method"] == "max_logit"
    assert record["validation_accepted"] >= ACCEPT_VALIDATION
    assert (digit_score(val) >= record["threshold"]).mean() >= ACCEPT_VALIDATION
    # the largest threshold that does: raising it a little rejects one digit too many
    assert (digit_score(val) >= record["threshold"] + 1e-9).mean() < ACCEPT_VALIDATION
    sets = record["evaluation"]["sets"]
    assert sets["blank"]["answered_as_digit"] == 0 and sets["blank"]["auroc"] == 1.0
    assert sets["uniform"]["answered_as_digit"] == 1.0
    assert sets["uniform"]["auroc"] == pytest.approx(0.5, abs=0.1)
    # with every logit but one at -5, softmax is sure of class 0 whatever the top value
    assert sets["uniform"]["confident_without_decision"] == 1.0
    assert record["evaluation"]["size"] == 16


def test_shifted_validation_digits_lower_the_threshold_to_keep_them() -> None:
    val = logits_with_top(RNG.uniform(8, 15, 2000))
    shifted_val = logits_with_top(RNG.uniform(3, 12, 2000))  # other sources: less sure
    test = logits_with_top(RNG.uniform(8, 15, 1000))
    shifted_test = logits_with_top(RNG.uniform(3, 12, 500))
    labels = np.zeros(500, np.int64)
    labels[:50] = 1  # a tenth read wrong (class 0 answered)

    def logits_of(images: np.ndarray) -> np.ndarray:
        return logits_with_top(np.full(len(images), 1.0))

    clean = decide(val, test, logits_of, ("temperature", 1.0), "none", size=8)
    mixed = decide(val, test, logits_of, ("temperature", 1.0), "none", size=8, shifted_val_logits=shifted_val,
                   shifted_test={"blur": (shifted_test, labels)})
    assert clean["fitted_on"] == "validation digits" and clean["shifted"] == {}
    assert mixed["fitted_on"] == "validation digits, clean and shifted"
    assert mixed["threshold"] < clean["threshold"]
    both = np.concatenate([digit_score(val), digit_score(shifted_val)])
    assert (both >= mixed["threshold"]).mean() >= ACCEPT_VALIDATION
    assert mixed["shifted_validation_accepted"] == (digit_score(shifted_val) >= mixed["threshold"]).mean()
    blur = mixed["shifted"]["blur"]
    assert blur["accuracy"] == pytest.approx(0.9)
    assert blur["accepted"] == (digit_score(shifted_test) >= mixed["threshold"]).mean()
    assert 0 < blur["ece"] < 1
