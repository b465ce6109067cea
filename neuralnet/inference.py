"""An artifact's network, ready to serve: raw pixels in, class probabilities out, and the gradient
of a chosen logit (or of the loss) with respect to the input pixels for explanations.

    x = (pixels * scale - mean) / std                 (N, 28, 28, 1), NHWC, float32
    logits = network(x);   probabilities = softmax(logits)
    d logit_c / d pixels = (d logit_c / d x) * scale / std       (the backward pass, then the input map)

Built from the same layer classes as training (`Sequential.from_artifact`): weights converted once,
at load, to contiguous arrays; a prediction stores nothing on the layers, so concurrent requests
can share one model. A gradient runs on per-call copies of the layers (sharing the weights), so
it is safe to compute concurrently too.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuralnet.artifact import Artifact
from neuralnet.blas_rows import rows_alike
from neuralnet.layers import Conv2D, Dense, Dropout, Layer, ReLU
from neuralnet.losses import log_softmax, softmax
from neuralnet.network import Sequential
from neuralnet.preprocess import INPUT_SHAPE, PIXEL_SCALE, normalise

# Images per forward pass of a network with conv layers (larger batches run in chunks): an im2col
# copy is ~0.5 MB per image, so 1024 at once would hold ~0.6 GB; 16 at a time is also the fastest
# here (the buffers stay in cache: 5.9k img/s at batch 64 against 5.1k with 32 and 4.5k with 64,
# benchmarks/peers/cnn_vs_torch.py). Dense networks need a few KB per image and are not chunked.
CONV_CHUNK_IMAGES = 16

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """One long-lived pool per thread count (starting threads per call costs a small batch ~10 %)."""
    with _POOLS_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="neuralnet-chunks")
        return _POOLS[threads]


# dL/dlogits for a chunk of logits and the slice of the batch it covers
Seed = Callable[[np.ndarray, slice], np.ndarray]


@dataclass(frozen=True)
class InferenceModel:
    """`predict_proba(pixels)` -> (N, 10); `logit_gradient` / `loss_gradient` for explanations."""

    name: str
    version: int
    labels: tuple[str, ...]
    network: Sequential
    scale: float
    mean: float
    std: float
    input_shape: tuple[int, ...]
    chunk_images: int | None  # None: the whole batch in one pass
    dtype: Any = np.float32
    # Threads running a chunked batch's chunks side by side (each with the BLAS threads it is
    # given): im2col, padding and pooling then use every core too, not only the matrix products.
    threads: int = 1
    # the layers a prediction runs: the network's, less those that are the identity at inference
    # (Dropout), with ReLU overwriting its input, which is always the previous layer's fresh output
    serving_layers: tuple[Layer, ...] = ()

    def __post_init__(self) -> None:
        if not self.serving_layers:
            layers = tuple(ReLU(inplace=True) if isinstance(layer, ReLU) else layer
                           for layer in self.network.layers if not isinstance(layer, Dropout))
            object.__setattr__(self, "serving_layers", layers)
        if self.chunk_images:  # a conv network: served with batching, one image as in any batch
            for layer in self.serving_layers:
                if isinstance(layer, Dense):
                    layer.one_row_as_two = True
                    layer.one_row_transposed = rows_alike(layer.in_features, layer.out_features, 1,
                                                          self.chunk_images, self.dtype, transposed=True)

    def batches_alike(self) -> bool:
        """Whether an image's logits come out bit for bit the same in any batch as alone, on this
        process's BLAS (neuralnet/blas_rows.py): what serving requests together relies on."""
        shape, most = self.input_shape, self.chunk_images or 64  # images in one product at most
        for layer in self.serving_layers:
            if isinstance(layer, Dense) and not rows_alike(layer.in_features, layer.out_features, 1, most,
                                                           self.dtype, layer.one_row_transposed):
                return False
            if isinstance(layer, Conv2D):
                height, width, _ = layer.output_shape(shape)
                if not rows_alike(layer.kernel_size ** 2 * layer.in_channels, layer.out_channels,
                                  height * width, most, self.dtype):
                    return False
            shape = layer.output_shape(shape)
        return True

    @classmethod
    def from_artifact(cls, artifact: Artifact, dtype: Any = np.float32, threads: int = 1) -> InferenceModel:
        """`dtype` float64 is for gradient checks; serving uses float32."""
        network = Sequential.from_artifact(artifact, dtype=dtype)
        spec_in = artifact.metadata["input"]
        return cls(
            name=artifact.name,
            version=artifact.version,
            labels=tuple(artifact.metadata["labels"]),
            network=network,
            scale=float(spec_in.get("scale", PIXEL_SCALE)),
            mean=float(spec_in["mean"]),
            std=float(spec_in["std"]),
            input_shape=tuple(int(d) for d in spec_in.get("shape", INPUT_SHAPE)),
            chunk_images=CONV_CHUNK_IMAGES if any(isinstance(layer, Conv2D) for layer in network.layers)
            else None,
            dtype=dtype,
            threads=threads,
        )

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """Raw 0-255 pixels (N, 28, 28) or (N, 784) -> the network's normalised NHWC input."""
        return normalise(pixels, self.mean, self.std, self.scale, self.input_shape, self.dtype)

    def _chunks(self, n: int) -> list[slice]:
        size = self.chunk_images or max(n, 1)
        return [slice(i, i + size) for i in range(0, n, size)]

    def logits(self, pixels: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Logits (N, classes), at most `chunk_images` images per forward pass; a batch of several
        chunks runs them on `threads` threads (default: the model's). A chunk's logits are the same
        whichever thread computes them."""
        if self.chunk_images and len(pixels) > self.chunk_images:
            parts = [pixels[part] for part in self._chunks(len(pixels))]
            threads = min(self.threads if threads is None else threads, len(parts))
            if threads > 1:
                return np.concatenate(list(_pool(threads).map(self.logits, parts)))
            return np.concatenate([self.logits(part) for part in parts])
        x = self.preprocess(pixels)
        for layer in self.serving_layers:
            x = layer.forward(x)
        return x

    def predict_proba(self, pixels: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Class probabilities (N, classes), rows summing to 1."""
        return softmax(self.logits(pixels, threads), overwrite=True)

    def logit_gradient(self, pixels: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits (N, K), d logits[n, classes[n]] / d pixels[n]) with the gradient shaped as `pixels`."""
        classes = np.asarray(classes, dtype=np.int64)

        def seed(z: np.ndarray, part: slice) -> np.ndarray:
            g = np.zeros_like(z)
            g[np.arange(len(z)), classes[part]] = 1
            return g

        return self._input_gradient(pixels, seed)

    def loss_gradient(self, pixels: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per-image cross-entropy (N,), its gradient with respect to each image's pixels)."""
        labels = np.asarray(labels, dtype=np.int64)
        losses = np.empty(len(pixels), np.float64)

        def seed(z: np.ndarray, part: slice) -> np.ndarray:
            rows = np.arange(len(z))
            losses[part] = -log_softmax(z)[rows, labels[part]]
            g = softmax(z)
            g[rows, labels[part]] -= 1  # d(-log p_label)/dz = p - onehot(label)
            return g

        _, grads = self._input_gradient(pixels, seed)
        return losses, grads

    def _input_gradient(self, pixels: np.ndarray, seed: Seed) -> tuple[np.ndarray, np.ndarray]:
        """Forward with kept activations on per-call layer copies, then backward from `seed(z, part)`."""
        pixels = np.asarray(pixels)
        out_logits: list[np.ndarray] = []
        out_grads: list[np.ndarray] = []
        for part in self._chunks(len(pixels)):
            layers = [copy.copy(layer) for layer in self.network.layers]  # own caches, shared weights
            for layer in layers:
                if isinstance(layer, Conv2D):
                    layer.needs_input_grad = True
            x = self.preprocess(pixels[part])
            for layer in layers:
                x = layer.forward(x, keep=True)
            g = seed(x, part)
            for layer in reversed(layers):
                g = layer.backward(g, params=False)
            out_logits.append(x)
            out_grads.append((g * (self.scale / self.std)).reshape(pixels[part].shape))
        return np.concatenate(out_logits), np.concatenate(out_grads)
