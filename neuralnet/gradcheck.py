"""Numerical gradient checks: central differences against a hand-written backward pass.

For a scalar loss L(p) and one entry p_i of a parameter array,

    dL/dp_i  ~  (L(p + eps e_i) - L(p - eps e_i)) / (2 eps),

with a truncation error of order eps^2. In float64 with eps = 1e-6 the rounding error
(~1e-16 / eps) and the truncation error are both small, so a correct analytic gradient agrees
to a relative error far below 1e-6; a wrong one (a missing term, a transposed matrix, a wrong
scale) is off by orders of magnitude more. In float32 the same check is mostly rounding noise,
so it is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

EPS = 1e-6


def numerical_gradient(
    loss: Callable[[], float],
    param: np.ndarray,
    indices: Sequence[int] | np.ndarray | None = None,
    eps: float = EPS,
) -> np.ndarray:
    """Central-difference estimate of d loss() / d param, perturbing `param` in place.

    `loss` must read `param` (the very array, not a copy) each time it is called; every entry
    is restored afterwards. `indices` are flat (C-order) indices of the entries to estimate, e.g.
    a few coordinates of a large weight matrix: the result has one value per index. Without
    `indices` every entry is estimated and the result has `param`'s shape.
    """
    if param.dtype != np.float64:
        raise ValueError(f"param is {param.dtype}: gradient checks need float64 "
                         "(e.g. layer.astype(np.float64)); float32 differences are mostly rounding")
    flat = param.reshape(-1)
    if not np.shares_memory(flat, param):
        raise ValueError("param must flatten without a copy (e.g. be contiguous): "
                         "perturbing a copy would not change what loss() reads")
    chosen = np.arange(flat.size) if indices is None else np.asarray(indices, dtype=np.int64).ravel()
    out = np.empty(len(chosen), np.float64)
    for j, i in enumerate(chosen):
        old = flat[i]
        try:
            flat[i] = old + eps
            plus = loss()
            flat[i] = old - eps
            minus = loss()
        finally:
            flat[i] = old
        out[j] = (plus - minus) / (2 * eps)
    return out.reshape(param.shape) if indices is None else out


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - n|| / (||a|| + ||n||): 0 when they agree, 1 when one is zero or they point opposite ways.

    Both zero counts as agreement (0).
    """
    a = np.ravel(np.asarray(analytic, np.float64))
    n = np.ravel(np.asarray(numeric, np.float64))
    if a.shape != n.shape:
        raise ValueError(f"analytic has {a.size} values, numeric has {n.size}")
    scale = float(np.linalg.norm(a) + np.linalg.norm(n))
    return float(np.linalg.norm(a - n) / scale) if scale > 0 else 0.0
