"""Optimizers that update parameters in place, and learning-rate schedules.

- SGD with momentum:  v <- mu v + g;  p <- p - lr (g + mu v) if Nesterov else p - lr v
- Adam:  m <- b1 m + (1-b1) g;  s <- b2 s + (1-b2) g^2;
         p <- p - lr * (m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + eps)
- Weight decay is decoupled (AdamW style): p <- p - lr * wd * p, applied to weights only
  (not biases or batch-norm parameters).
- Schedules give lr(step): constant, cosine decay with linear warm-up, and one-cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Param = tuple[str, np.ndarray, np.ndarray]  # (name, value, gradient)


def decays(name: str) -> bool:
    """Weight decay applies to weight matrices/kernels only."""
    return name.endswith(".W")


class Optimizer:
    def __init__(self, lr: float, weight_decay: float = 0.0) -> None:
        self.lr, self.weight_decay = lr, weight_decay
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.t = 0

    def step(self, params: list[Param], lr: float | None = None) -> None:
        self.t += 1
        rate = self.lr if lr is None else lr
        for name, value, grad in params:
            if self.weight_decay and decays(name):
                value -= value.dtype.type(rate * self.weight_decay) * value
            self.update(name, value, grad, rate)

    def update(self, name: str, value: np.ndarray, grad: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(
        self, lr: float, momentum: float = 0.9, nesterov: bool = True, weight_decay: float = 0.0
    ) -> None:
        super().__init__(lr, weight_decay)
        self.momentum, self.nesterov = momentum, nesterov

    def update(self, name: str, value: np.ndarray, grad: np.ndarray, lr: float) -> None:
        lr_t = value.dtype.type(lr)
        if not self.momentum:
            value -= lr_t * grad
            return
        v = self.state.setdefault(name, {"v": np.zeros_like(value)})["v"]
        v *= value.dtype.type(self.momentum)
        v += grad
        value -= lr_t * (grad + value.dtype.type(self.momentum) * v if self.nesterov else v)

    def config(self) -> dict[str, Any]:
        return {"name": "sgd", "lr": self.lr, "momentum": self.momentum,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    def __init__(
        self,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def update(self, name: str, value: np.ndarray, grad: np.ndarray, lr: float) -> None:
        st = self.state.setdefault(name, {"m": np.zeros_like(value), "s": np.zeros_like(value)})
        m, s = st["m"], st["s"]
        t = value.dtype.type
        m *= t(self.beta1)
        m += t(1 - self.beta1) * grad
        s *= t(self.beta2)
        s += t(1 - self.beta2) * (grad * grad)
        # eps is added to the bias-corrected sqrt(s), as in the formula above
        denom = np.sqrt(s) * t(1 / math.sqrt(1 - self.beta2**self.t)) + t(self.eps)
        value -= t(lr / (1 - self.beta1**self.t)) * m / denom

    def config(self) -> dict[str, Any]:
        return {"name": "adam", "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2,
                "eps": self.eps, "weight_decay": self.weight_decay}


def make_optimizer(name: str, lr: float, weight_decay: float = 0.0, momentum: float = 0.9) -> Optimizer:
    if name == "adam":
        return Adam(lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return SGD(lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r} (adam or sgd)")


def make_schedule(
    name: str, base_lr: float, total_steps: int, warmup_steps: int = 0
) -> Callable[[int], float]:
    """lr as a function of the step index (0-based)."""
    if name == "constant":
        return lambda step: base_lr
    if name == "cosine":
        def cosine(step: int) -> float:
            if step < warmup_steps:
                return base_lr * (step + 1) / warmup_steps
            progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return cosine
    if name == "onecycle":
        peak = max(1, int(0.25 * total_steps))

        def onecycle(step: int) -> float:
            if step < peak:  # linear ramp from lr/25 to lr
                return base_lr * (0.04 + 0.96 * step / peak)
            progress = (step - peak) / max(1, total_steps - peak)
            return base_lr * (1e-3 + (1 - 1e-3) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
        return onecycle
    raise ValueError(f"unknown schedule {name!r} (constant, cosine, onecycle)")
