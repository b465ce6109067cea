"""What every layer is: a map x -> y with its backward pass, dL/dy -> dL/dx.

`forward(x, training=False, keep=False)` computes y. Only with `keep=True` does the layer store
what its backward pass needs (its input, a mask, a patch matrix): inference keeps nothing, so one
layer object can serve concurrent forward passes. `backward(grad)` then returns dL/dx and, unless
`params=False`, stores dL/dparam in `self.grads` (same keys as `self.params`).

`param_shapes(spec)` gives the parameter shapes an architecture entry implies; the constructor
and the artifact reader both use it, so a layer's shapes are written once.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

Array = np.ndarray


class Layer:
    """Base class: no parameters; subclasses define `kind`, forward and backward."""

    kind: ClassVar[str] = "layer"
    fields: ClassVar[tuple[str, ...]] = ()  # what its architecture entry must give besides `type`

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def forward(self, x: Array, training: bool = False, keep: bool = False) -> Array:
        raise NotImplementedError

    def backward(self, grad: Array, params: bool = True) -> Array:
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """The layer's entry in an artifact's architecture list."""
        return {"type": self.kind}

    @classmethod
    def param_shapes(cls, spec: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """Parameter name -> shape for an architecture entry (KeyError names a missing field)."""
        return {}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Layer:
        """A layer for an architecture entry, parameters zero until loaded."""
        return cls()

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def astype(self, dtype: Any) -> None:
        self.params = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in self.params.items()}

    def _saved(self, name: str) -> Any:
        """What forward(keep=True) stored for the backward pass; a clear error if nothing was."""
        value = getattr(self, name, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward needs forward(..., keep=True) first")
        return value


def he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> Array:
    """He initialisation: N(0, 2 / fan_in), float32."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def initial_params(shapes: dict[str, tuple[int, ...]], fan_in: int,
                   rng: np.random.Generator | None) -> dict[str, Array]:
    """Weights `W` He-initialised from `rng` (zeros without one: they are about to be loaded);
    every other parameter (biases) zero."""
    return {name: he_normal(rng, shape, fan_in) if name == "W" and rng is not None
            else np.zeros(shape, np.float32) for name, shape in shapes.items()}
