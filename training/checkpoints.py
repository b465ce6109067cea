"""Per-epoch checkpoints of a training run (`mnist-train --checkpoint-dir`), and resuming from them
(`--resume`): a long run on a shared machine that stops loses at most one epoch.

    <dir>/epoch-<NNN>.npz    the parameters after epoch NNN (Sequential.state) and that epoch's
                             history row (keys "history.<field>"), written atomically

A resumed run starts from the latest checkpoint's parameters at the next epoch, with the learning
rate schedule where it was, and keeps the best-on-validation epoch among the checkpoints. The
optimizer's moments and the shuffling generator start afresh: a resumed run is not bit-identical
to an uninterrupted one. Checkpoints are plain arrays (np.load without pickle), not artifacts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HISTORY = "history."
NAME = re.compile(r"epoch-(\d{3,})\.npz")


@dataclass
class Checkpoint:
    epoch: int
    state: dict[str, np.ndarray]
    row: dict[str, float]


def save_checkpoint(folder: Path, epoch: int, state: dict[str, np.ndarray], row: dict[str, float]) -> Path:
    """The parameters after `epoch`, written atomically (a temporary file renamed into place)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"epoch-{epoch:03d}.npz"
    partial = folder / f".epoch-{epoch:03d}.npz.partial"
    arrays: dict[str, Any] = {**state, **{HISTORY + k: np.float64(v) for k, v in row.items()}}
    with open(partial, "wb") as f:
        np.savez(f, **arrays)
    os.replace(partial, path)
    return path


def load_checkpoints(folder: Path) -> list[Checkpoint]:
    """Every checkpoint in `folder`, by epoch; they must run 1, 2, ... without a gap."""
    found = sorted((int(m.group(1)), p) for p in Path(folder).glob("epoch-*.npz")
                   if (m := NAME.fullmatch(p.name)))
    if [epoch for epoch, _ in found] != list(range(1, len(found) + 1)):
        raise ValueError(f"{folder}: checkpoints of epochs {[e for e, _ in found]}, not 1, 2, ...")
    checkpoints = []
    for epoch, path in found:
        with np.load(path, allow_pickle=False) as data:
            state = {k: data[k] for k in data.files if not k.startswith(HISTORY)}
            row = {k[len(HISTORY):]: float(data[k]) for k in data.files if k.startswith(HISTORY)}
        checkpoints.append(Checkpoint(epoch, state, row))
    return checkpoints
