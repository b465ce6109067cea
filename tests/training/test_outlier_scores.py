"""AUROC, thresholds and the digit-likeness scores, on cases worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from training.outliers.metrics import auroc, average_ranks, false_positive_rate, threshold_accepting
from training.outliers.scores import Mahalanobis, energy, max_logit, max_softmax


def test_average_ranks_share_ties() -> None:
    assert average_ranks(np.array([10, 20, 20, 5])).tolist() == [2.0, 3.5, 3.5, 1.0]


@pytest.mark.parametrize(("pos", "neg", "expected"), [
    ([3, 4], [1, 2], 1.0),            # perfectly separated
    ([1, 2], [3, 4], 0.0),            # perfectly wrong
    ([1, 1], [1, 1], 0.5),            # all tied
    ([2, 4], [1, 3], 0.75),           # 3 of the 4 pairs in order
    ([2, 3], [2, 1], 0.875),          # pairs: (2,2) tie = 1/2, (2,1) (3,2) (3,1) = 1 each: 3.5 / 4
])
def test_auroc_known_cases(pos: list[float], neg: list[float], expected: float) -> None:
    assert auroc(np.array(pos), np.array(neg)) == pytest.approx(expected)


def test_auroc_matches_the_pair_count_on_random_tied_scores() -> None:
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 40), rng.integers(0, 5, 30)
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auroc(pos, neg) == pytest.approx(pairs)
    with pytest.raises(ValueError):
        auroc(pos, np.array([]))


def test_threshold_accepts_at_least_the_share_and_fpr_counts_ties_as_accepted() -> None:
    scores = np.arange(1, 201, dtype=float)  # 1..200
    t = threshold_accepting(scores, 0.995)
    assert t == 2.0 and (scores >= t).mean() >= 0.995
    assert threshold_accepting(scores, 1.0) == 1.0
    assert false_positive_rate(np.array([1.0, 2.0, 3.0, 0.5]), 2.0) == 0.5


def test_logit_scores() -> None:
    z = np.array([[0.0, 0.0], [10.0, 0.0]])
    assert max_softmax(z) == pytest.approx([0.5, 1 / (1 + np.exp(-10))])
    assert max_logit(z).tolist() == [0.0, 10.0]
    assert energy(z) == pytest.approx([np.log(2), np.log(np.exp(10) + 1)])
    assert np.isfinite(energy(np.array([[1000.0, 999.0]]))).all()


def test_mahalanobis_recovers_class_means_and_covariance_on_a_toy_problem() -> None:
    rng = np.random.default_rng(0)
    cov = np.array([[4.0, 1.5], [1.5, 1.0]])
    means = np.array([[0.0, 0.0], [10.0, -5.0]])
    labels = np.repeat([0, 1], 20000)
    x = means[labels] + rng.multivariate_normal([0, 0], cov, len(labels))
    maha = Mahalanobis.fit(x, labels)
    assert maha.means == pytest.approx(means, abs=0.05)
    assert np.linalg.inv(maha.precision) == pytest.approx(cov, rel=0.05, abs=0.05)
    # a point one standard deviation along the covariance's long axis is closer than a point the
    # same Euclidean distance across it
    w, v = np.linalg.eigh(cov)
    along, across = np.sqrt(w[1]) * v[:, 1], np.sqrt(w[1]) * v[:, 0]
    d = maha.distances(np.stack([along, across]))
    assert d[0, 0] == pytest.approx(1.0, rel=0.05)
    assert d[1, 0] == pytest.approx(w[1] / w[0], rel=0.05)
    assert maha.score(np.array([[0.0, 0.0], [5.0, 20.0]])).argmax() == 0
