"""Why this digit: integrated gradients (Sundararajan, Taly & Yan, ICML 2017) of the predicted
class's logit with respect to the input pixels, against a black baseline x' = 0.

    IG_i(x) = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x'))/dx_i da
           ~= x_i * (1/m) [ g(0)/2 + g(1/m) + ... + g((m-1)/m) + g(1)/2 ]_i     trapezoid rule,
                                                                  g(a) = dF/dx at a x, m = steps
    completeness: sum_i IG_i(x) = F(x) - F(x')   (exact for the integral; the sum's error is
    completeness_error = |sum_i IG_i - (F(x) - F(x'))| / |F(x) - F(x')|)

F is the logit of the predicted class, computed and differentiated by the network core's own
forward and backward passes (neuralnet.InferenceModel.logit_gradient): the path images go through
it as one batch. A ReLU network is piecewise linear along the path, so the rule's error comes from
the few points where a unit switches on or off, and shrinks as 1/m. By default the steps adapt:
START_STEPS, doubled (the trapezoid points nest, so a doubling computes only the new midpoints)
until the completeness error is at most TOLERANCE or MAX_STEPS is reached. A fixed `steps` is
computed as asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralnet.inference import InferenceModel

START_STEPS = 32
MAX_STEPS = 256
TOLERANCE = 0.01


@dataclass(frozen=True)
class Explanation:
    saliency: np.ndarray  # (784,) float64; sums to about logit - baseline_logit
    target: int
    logit: float
    baseline_logit: float
    completeness_error: float
    steps: int


def _gradients(model: InferenceModel, x: np.ndarray, alphas: np.ndarray,
               target: int) -> tuple[np.ndarray, np.ndarray]:
    """(logits of `target` (len(alphas),), gradients (len(alphas), 784)) along the path a * x."""
    path = alphas[:, None].astype(np.float32) * x[None, :]
    logits, grads = model.logit_gradient(path, np.full(len(alphas), target))
    return logits[:, target].astype(np.float64), grads.astype(np.float64)


def integrated_gradients(model: InferenceModel, pixels: np.ndarray, target: int,
                         steps: int | None = None) -> Explanation:
    """The attributions of one image's raw 0-255 `pixels` (784,) to the logit of class `target`;
    `steps` None: adaptive (see the module's docstring)."""
    x = np.asarray(pixels, np.float32).reshape(-1)
    m = steps or START_STEPS
    ends, g = _gradients(model, x, np.linspace(0.0, 1.0, m + 1), target)
    baseline_logit, logit = float(ends[0]), float(ends[-1])
    total = g[1:-1].sum(axis=0) + (g[0] + g[-1]) / 2  # m * the trapezoid mean of g
    difference = logit - baseline_logit
    while True:
        saliency = x * total / m
        error = abs(float(saliency.sum()) - difference) / max(abs(difference), 1e-6)
        if steps is not None or error <= TOLERANCE or m >= MAX_STEPS:
            return Explanation(saliency, target, logit, baseline_logit, error, m)
        _, g = _gradients(model, x, (np.arange(m) + 0.5) / m, target)  # the new midpoints
        total, m = total + g.sum(axis=0), 2 * m
