"""How well a score separates digits (positives) from non-digits (negatives); higher score = more
digit-like.

    AUROC = P(s_digit > s_other) + 0.5 P(s_digit = s_other)
          = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)     R_pos: sum of the positives' ranks
                                                                  in the pooled scores, ties given
                                                                  their average rank (Mann-Whitney U)
    threshold t accepting a share a of validation digits: the (1 - a) quantile of their scores,
        taken as the largest t with  #{s_val >= t} >= ceil(a n_val)
    FPR(t) = #{s_other >= t} / n_other      non-digits that would be answered as a digit
"""

from __future__ import annotations

import math

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of `values` (float64), tied values sharing the mean of their ranks."""
    values = np.asarray(values, np.float64).ravel()
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # rank of each distinct value's last copy
    mean_rank = last - (counts - 1) / 2.0
    return mean_rank[inverse]


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve of `positive` scores against `negative` ones (0.5: no separation)."""
    positive = np.asarray(positive, np.float64).ravel()
    negative = np.asarray(negative, np.float64).ravel()
    n_pos, n_neg = len(positive), len(negative)
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs at least one score on each side")
    if np.isnan(positive).any() or np.isnan(negative).any():
        raise ValueError("scores contain NaN")
    ranks = average_ranks(np.concatenate([positive, negative]))
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def threshold_accepting(scores: np.ndarray, share: float) -> float:
    """The largest t such that at least `share` of `scores` are >= t."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    ordered = np.sort(np.asarray(scores, np.float64).ravel())[::-1]
    if len(ordered) == 0:
        raise ValueError("no scores")
    return float(ordered[math.ceil(share * len(ordered) - 1e-9) - 1])


def false_positive_rate(negative: np.ndarray, threshold: float) -> float:
    """Share of `negative` scores at or above `threshold` (answered as a digit)."""
    negative = np.asarray(negative, np.float64).ravel()
    return float((negative >= threshold).mean())
