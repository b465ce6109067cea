"""The service's forward-only runtime computes what training's network computes."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.artifact import Artifact, load_artifact, save_artifact
from service.runtime import InferenceModel
from training.data import Mnist
from training.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from training.model import Sequential, build_cnn, from_artifact
from training.train import normalise

REPO_ROOT = Path(__file__).resolve().parents[2]


def softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def runtime_proba(model: InferenceModel, images: np.ndarray) -> np.ndarray:
    flat = images.reshape(len(images), 784).astype(np.float32)  # what service.inputs hands over
    return model.predict_proba(flat)  # all at once: the runtime chunks large batches itself


def training_proba(artifact: Artifact, images: np.ndarray) -> np.ndarray:
    spec = artifact.metadata["input"]
    x = normalise(images, spec["mean"], spec["std"])
    return softmax(from_artifact(artifact).predict_logits(x))


@pytest.mark.mnist
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist-mlp", "mnist-cnn"])
def test_runtime_matches_training_forward_on_all_test_images(weights_dir: Path, mnist: Mnist,
                                                             name: str) -> None:
    artifact = load_artifact(weights_dir / name / "1.npz")
    images = mnist.test_images
    assert len(images) == 10_000
    got = runtime_proba(InferenceModel.from_artifact(artifact), images)
    want = training_proba(artifact, images)
    assert got.dtype == np.float32
    assert got.shape == (10_000, 10)
    mismatched = np.flatnonzero(got.argmax(axis=1) != want.argmax(axis=1))
    assert mismatched.size == 0, f"argmax differs on images {mismatched[:10].tolist()}"
    assert np.abs(got - want).max() <= 1e-5
    # and the served accuracy is the recorded one
    accuracy = float((got.argmax(axis=1) == mnist.test_labels).mean())
    assert accuracy == pytest.approx(artifact.metadata["metrics"]["test_accuracy"], abs=1e-4 + 1e-12)


@pytest.mark.parametrize("name", ["mnist-mlp", "mnist-cnn"])
def test_runtime_output_is_float32_probabilities(weights_dir: Path, name: str,
                                                 example_digit: dict[str, Any]) -> None:
    model = InferenceModel.from_artifact(load_artifact(weights_dir / name / "1.npz"))
    pixels = np.array([example_digit["pixels"], np.zeros((28, 28))], np.float32).reshape(2, 784)
    proba = model.predict_proba(pixels)
    assert proba.dtype == np.float32
    assert proba.shape == (2, 10)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert int(proba[0].argmax()) == example_digit["label"]
    assert (model.name, model.version, model.labels) == (name, 1, tuple(str(d) for d in range(10)))


def naive_forward(artifact: Artifact, images: np.ndarray) -> np.ndarray:
    """Float64 logits straight from docs/artifact-format.md, with explicit loops (slow, tiny input)."""
    spec_in = artifact.metadata["input"]
    x = (images.astype(np.float64) * spec_in["scale"] - spec_in["mean"]) / spec_in["std"]
    x = x.reshape(len(images), 28, 28, 1)
    for i, spec in enumerate(artifact.metadata["architecture"]):
        p = {k: v.astype(np.float64) for k, v in artifact.layer_params(i).items()}
        if spec["type"] == "conv2d":
            k, s, pad = spec["kernel_size"], spec["stride"], spec["padding"]
            xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
            ho, wo = (xp.shape[1] - k) // s + 1, (xp.shape[2] - k) // s + 1
            y = np.empty((len(x), ho, wo, spec["out_channels"]))
            for a in range(ho):
                for b in range(wo):
                    window = xp[:, s * a:s * a + k, s * b:s * b + k, :]
                    y[:, a, b, :] = np.einsum("nuvc,uvco->no", window, p["W"]) + p["b"]
            x = y
        elif spec["type"] == "maxpool2d":
            q = spec["pool_size"]
            ho, wo = x.shape[1] // q, x.shape[2] // q
            y = np.empty((len(x), ho, wo, x.shape[3]))
            for a in range(ho):
                for b in range(wo):
                    y[:, a, b, :] = x[:, q * a:q * a + q, q * b:q * b + q, :].max(axis=(1, 2))
            x = y
        elif spec["type"] == "dense":
            x = x @ p["W"] + p["b"]
        elif spec["type"] == "relu":
            x = np.maximum(x, 0)
        elif spec["type"] == "flatten":
            x = x.reshape(len(x), -1)
    return x


def tiny_artifact(tmp_path: Path, network: Sequential, name: str) -> Artifact:
    rng = np.random.default_rng(1)
    for layer in network.layers:  # non-zero biases, so a wrong bias shape or order shows
        if "b" in layer.params:
            layer.params["b"] = rng.normal(0, 0.5, layer.params["b"].shape).astype(np.float32)
    architecture, arrays = network.export()
    meta = {"model_name": name, "architecture": architecture, "labels": [str(d) for d in range(10)],
            "input": {"shape": [28, 28, 1], "scale": 1 / 255, "mean": 0.2, "std": 0.4}}
    return load_artifact(save_artifact(tmp_path, meta, arrays))


def odd_cnn(rng: np.random.Generator) -> Sequential:
    # stride 2 without padding: 28 -> 13; pool 2 drops the 13th row/column: -> 6; pool 3: -> 2
    return Sequential([Conv2D(1, 3, 3, rng, stride=2), ReLU(), MaxPool2D(2), Conv2D(3, 4, 5, rng, padding=2),
                       ReLU(), MaxPool2D(3), Dropout(0.5, rng), Flatten(), Dense(2 * 2 * 4, 10, rng)])


@pytest.mark.parametrize("build", [odd_cnn, lambda rng: build_cnn(rng, blocks=((4,), (6, 6)), hidden=12)],
                         ids=["stride-pad-odd-pool", "shipped-shape-cnn"])
def test_runtime_follows_the_format_spec_for_conv_and_pool(tmp_path: Path, build: Any) -> None:
    artifact = tiny_artifact(tmp_path, build(np.random.default_rng(0)), "tiny")
    images = np.random.default_rng(2).integers(0, 256, (5, 28, 28)).astype(np.float32)
    got = InferenceModel.from_artifact(artifact).predict_proba(images.reshape(5, 784))
    want = softmax(naive_forward(artifact, images))
    assert got.dtype == np.float32
    assert np.abs(got - want).max() <= 1e-5
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()


def test_service_never_imports_training() -> None:
    code = ("import sys, service.main, service.cli, service.runtime, service.registry; "
            "bad = sorted(m for m in sys.modules if m == 'training' or m.startswith('training.')); "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_large_cnn_batch_runs_in_bounded_memory(weights_dir: Path) -> None:
    """A 1024-image batch (the default limit) is run in chunks: its conv buffers stay small, and
    the chunked answer is the one each image gets on its own."""
    model = InferenceModel.from_artifact(load_artifact(weights_dir / "mnist-cnn" / "1.npz"))
    pixels = np.random.default_rng(0).integers(0, 256, (1024, 784)).astype(np.float32)
    model.predict_proba(pixels[:2])  # first-call allocations out of the measurement
    tracemalloc.start()  # NumPy reports its buffers to tracemalloc
    try:
        proba = model.predict_proba(pixels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # unchunked, this batch peaks at ~600 MiB (im2col of 1024 images at once)
    assert peak < 150 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    singles = np.concatenate([model.predict_proba(pixels[i:i + 1]) for i in (0, 63, 64, 1023)])
    np.testing.assert_allclose(proba[[0, 63, 64, 1023]], singles, atol=1e-6)
