"""The two architectures `mnist-train` builds, from the core's layers (neuralnet.layers).

Inputs are normalised images, NHWC (N, 28, 28, 1).
- mlp: Flatten -> [Dense -> BatchNorm -> ReLU -> Dropout] per hidden width -> Dense(10)
- cnn: blocks of 3x3 Conv2D (+BatchNorm, ReLU) each ending in a 2x2 MaxPool2D, then
       Flatten -> Dense -> BatchNorm -> ReLU -> Dropout -> Dense(10)
BatchNorm is folded away when the network is exported to an artifact (Sequential.export).
"""

from __future__ import annotations

import numpy as np

from neuralnet.layers import BatchNorm, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU
from neuralnet.network import Sequential
from neuralnet.preprocess import INPUT_SHAPE


def build_mlp(rng: np.random.Generator, hidden: tuple[int, ...] = (512, 512), dropout: float = 0.2,
              batchnorm: bool = True) -> Sequential:
    layers: list[Layer] = [Flatten()]
    width = int(np.prod(INPUT_SHAPE))
    for h in hidden:
        layers.append(Dense(width, h, rng))
        if batchnorm:
            layers.append(BatchNorm(h))
        layers.append(ReLU())
        if dropout:
            layers.append(Dropout(dropout, rng))
        width = h
    layers.append(Dense(width, 10, rng))
    return Sequential(layers)


def build_cnn(rng: np.random.Generator, blocks: tuple[tuple[int, ...], ...] = ((32,), (64, 64)),
              hidden: int = 256, dropout: float = 0.3, batchnorm: bool = True) -> Sequential:
    """Blocks of 3x3 convs (+BN, ReLU), each block ending in a 2x2 max-pool; then Dense."""
    layers: list[Layer] = []
    shape: tuple[int, ...] = INPUT_SHAPE
    for block in blocks:
        for c_out in block:
            layers.append(Conv2D(shape[2], c_out, 3, rng, padding=1))
            if batchnorm:
                layers.append(BatchNorm(c_out))
            layers.append(ReLU())
            shape = (shape[0], shape[1], c_out)
        layers.append(MaxPool2D(2))
        shape = layers[-1].output_shape(shape)
    layers.append(Flatten())
    layers.append(Dense(int(np.prod(shape)), hidden, rng))
    if batchnorm:
        layers.append(BatchNorm(hidden))
    layers.append(ReLU())
    if dropout:
        layers.append(Dropout(dropout, rng))
    layers.append(Dense(hidden, 10, rng))
    return Sequential(layers)
