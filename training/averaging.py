"""Weight averaging over a run's last epochs (`mnist-train --average-from E`).

The parameters after epochs E, E+1, ..., last (the run's checkpoints) are averaged into one network:
late in a decaying schedule the epochs' weights circle a wide minimum, and their mean sits nearer its
centre than any one of them, which generalises better than the best single epoch (stochastic weight
averaging, Izmailov et al. 2018). Costs nothing at inference: the result is one network of the same
shape.

The batch norms' running statistics are not averaged but measured afresh: the averaged network's
activations are not the mean of the averaged networks' activations. They are measured on the
unaugmented training digits, the distribution the served network is judged on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuralnet.layers import BatchNorm
from neuralnet.network import Sequential
from neuralnet.preprocess import INPUT_SHAPE
from training.checkpoints import Checkpoint, load_checkpoints


def averaged_state(checkpoints: Sequence[Checkpoint],
                   first_epoch: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """The mean of every array over the checkpoints from `first_epoch` on, and those epochs."""
    chosen = [c for c in checkpoints if c.epoch >= first_epoch]
    if not chosen:
        last = max((c.epoch for c in checkpoints), default=0)
        raise ValueError(f"no checkpoint from epoch {first_epoch} on (the last is epoch {last})")
    state = {key: np.mean([c.state[key] for c in chosen], axis=0).astype(chosen[0].state[key].dtype)
             for key in chosen[0].state}
    return state, [c.epoch for c in chosen]


def refit_batchnorm(model: Sequential, x: np.ndarray, batch_size: int = 250) -> None:
    """Every BatchNorm's running mean and variance set to the mean of its batch statistics over
    `x` (normalised inputs), in batches as training measured them."""
    norms = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    kept = [(layer.momentum, layer.stats_rows) for layer in norms]
    try:
        for k, lo in enumerate(range(0, len(x), batch_size), start=1):
            for layer in norms:  # momentum (k-1)/k: the running figure is the mean of the k batches'
                layer.momentum, layer.stats_rows = (k - 1) / k, None
            model.forward(x[lo : lo + batch_size].reshape(-1, *INPUT_SHAPE), training=True, keep=False)
    finally:
        for layer, (momentum, rows) in zip(norms, kept, strict=True):
            layer.momentum, layer.stats_rows = momentum, rows


def average_epochs(model: Sequential, folder: Path, first_epoch: int, x: np.ndarray) -> list[int]:
    """`model` given the mean weights of the checkpoints in `folder` from `first_epoch` on, its
    batch norms refitted on `x`; returns the epochs averaged."""
    state, epochs = averaged_state(load_checkpoints(folder), first_epoch)
    model.load_state(state)
    refit_batchnorm(model, x)
    return epochs
