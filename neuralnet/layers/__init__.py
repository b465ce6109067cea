"""The layers, each in its own module with its forward and backward pass, and the one table of
which layer types an artifact may hold.

BatchNorm is a training-time layer: it is folded into the layer before it when an artifact is
written (`Sequential.export`), so `ARTIFACT_LAYERS` does not list it.
"""

from __future__ import annotations

from neuralnet.layers.base import Array, Layer, he_normal
from neuralnet.layers.batchnorm import BatchNorm
from neuralnet.layers.conv import Conv2D, im2col
from neuralnet.layers.dense import Dense
from neuralnet.layers.dropout import Dropout
from neuralnet.layers.flatten import Flatten
from neuralnet.layers.pool import MaxPool2D, max_pool
from neuralnet.layers.relu import ReLU

# Artifact layer type (`architecture[i]["type"]`) -> the class that implements it.
ARTIFACT_LAYERS: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Conv2D, Dense, ReLU, MaxPool2D, Flatten, Dropout)
}

__all__ = ["ARTIFACT_LAYERS", "Array", "BatchNorm", "Conv2D", "Dense", "Dropout", "Flatten", "Layer",
           "MaxPool2D", "ReLU", "he_normal", "im2col", "max_pool"]
