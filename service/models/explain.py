"""Why this digit: integrated gradients (Sundararajan, Taly & Yan, ICML 2017) of the predicted
class's logit with respect to the input pixels, against a black baseline x' = 0.

    IG_i(x) = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x'))/dx_i da
           ~= x_i * sum_j (a_j+1 - a_j) (g(a_j) + g(a_j+1))_i / 2      trapezoid rule on points
                                                      0 = a_0 < ... < a_m = 1,  g(a) = dF/dx at a x
    completeness: sum_i IG_i(x) = F(x) - F(x')   (exact for the integral; the sum's error is
    completeness_error = |sum_i IG_i - (F(x) - F(x'))| / |F(x) - F(x')|)

F is the logit of the predicted class, computed and differentiated by the network core's own
forward and backward passes (neuralnet.InferenceModel.logit_gradient): the path images go through
it as one batch. A ReLU network is piecewise linear along the path, so the rule is exact on every
interval where no unit switches on or off, and wrong only on the few that hold a switch. Each
interval shows its own error: the trapezoid's estimate of F's change over it, (a_j+1 - a_j)
(s_j + s_j+1) / 2 with s = g(a) . x = dF/da, against the change F(a_j+1 x) - F(a_j x) the forward
pass measured. By default the rule starts with START_STEPS equal intervals and halves the
REFINE worst at a time until the completeness error is at most TOLERANCE or there are MAX_STEPS.
Doubling every interval instead met 1 % for 95.5 % of the CNN's test digits at 256 steps; halving
the worst ones meets it for all of them with fewer (benchmarks/README.md). A fixed `steps` is
computed as asked, on equal intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralnet.inference import InferenceModel

START_STEPS = 32
MAX_STEPS = 256
REFINE = 16  # intervals halved per pass: one batch through the network each
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
    alphas = np.linspace(0.0, 1.0, (steps or START_STEPS) + 1)
    f, g = _gradients(model, x, alphas, target)
    baseline_logit, logit = float(f[0]), float(f[-1])
    difference = logit - baseline_logit
    while True:
        widths = np.diff(alphas)
        weights = np.zeros(len(alphas))
        weights[:-1] += widths / 2
        weights[1:] += widths / 2
        saliency = x * (weights @ g)
        error = abs(float(saliency.sum()) - difference) / max(abs(difference), 1e-6)
        if steps is not None or error <= TOLERANCE or len(widths) >= MAX_STEPS:
            return Explanation(saliency, target, logit, baseline_logit, error, len(widths))
        slopes = g @ x.astype(np.float64)
        local = widths * (slopes[:-1] + slopes[1:]) / 2 - np.diff(f)
        worst = np.argsort(-np.abs(local), kind="stable")[: min(REFINE, MAX_STEPS - len(widths))]
        middles = alphas[worst] + widths[worst] / 2
        f_new, g_new = _gradients(model, x, middles, target)
        order = np.argsort(np.concatenate([alphas, middles]), kind="stable")
        alphas = np.concatenate([alphas, middles])[order]
        f, g = np.concatenate([f, f_new])[order], np.concatenate([g, g_new])[order]
