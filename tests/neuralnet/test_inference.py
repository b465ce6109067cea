"""The inference model: the artifact's network as the service runs it (float32, chunked, no state
kept between calls), checked against a float64 run, a loop-by-loop reading of the format spec, the
recorded accuracy, and numerical input gradients."""

from __future__ import annotations

import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuralnet.artifact import Artifact, load_artifact
from neuralnet.gradcheck import numerical_gradient, relative_error
from neuralnet.inference import InferenceModel
from neuralnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from neuralnet.network import Sequential
from testkit.artifacts import tiny_artifact as write_artifact
from training.architectures import build_cnn
from training.data import Mnist


def softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.mnist
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist-mlp", "mnist-cnn"])
def test_float32_model_matches_float64_and_recorded_accuracy_on_all_test_images(
        weights_dir: Path, mnist: Mnist, name: str) -> None:
    artifact = load_artifact(weights_dir / name / "1.npz")
    flat = mnist.test_images.reshape(10_000, 784).astype(np.float32)  # what the codecs hand over
    got = InferenceModel.from_artifact(artifact).predict_proba(flat)  # all at once: it chunks itself
    want = softmax(InferenceModel.from_artifact(artifact, dtype=np.float64).logits(flat))
    assert got.dtype == np.float32
    assert got.shape == (10_000, 10)
    mismatched = np.flatnonzero(got.argmax(axis=1) != want.argmax(axis=1))
    assert mismatched.size == 0, f"argmax differs on images {mismatched[:10].tolist()}"
    assert np.abs(got - want).max() <= 1e-5
    # and the served accuracy is the recorded one
    accuracy = float((got.argmax(axis=1) == mnist.test_labels).mean())
    assert accuracy == pytest.approx(artifact.metadata["metrics"]["test_accuracy"], abs=1e-4 + 1e-12)


@pytest.mark.parametrize("name", ["mnist-mlp", "mnist-cnn"])
def test_output_is_float32_probabilities(weights_dir: Path, name: str,
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
    return load_artifact(write_artifact(tmp_path, name, network=network))


def odd_cnn(rng: np.random.Generator) -> Sequential:
    # stride 2 without padding: 28 -> 13; pool 2 drops the 13th row/column: -> 6; pool 3: -> 2
    return Sequential([Conv2D(1, 3, 3, rng, stride=2), ReLU(), MaxPool2D(2), Conv2D(3, 4, 5, rng, padding=2),
                       ReLU(), MaxPool2D(3), Dropout(0.5, rng), Flatten(), Dense(2 * 2 * 4, 10, rng)])


@pytest.mark.parametrize("build", [odd_cnn, lambda rng: build_cnn(rng, blocks=((4,), (6, 6)), hidden=12)],
                         ids=["stride-pad-odd-pool", "shipped-shape-cnn"])
def test_model_follows_the_format_spec_for_conv_and_pool(tmp_path: Path, build: Any) -> None:
    artifact = tiny_artifact(tmp_path, build(np.random.default_rng(0)), "tiny")
    images = np.random.default_rng(2).integers(0, 256, (5, 28, 28)).astype(np.float32)
    got = InferenceModel.from_artifact(artifact).predict_proba(images.reshape(5, 784))
    want = softmax(naive_forward(artifact, images))
    assert got.dtype == np.float32
    assert np.abs(got - want).max() <= 1e-5
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()


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


# ----------------------------------------------------------------------------- input gradients

def small_mlp(rng: np.random.Generator) -> Sequential:
    return Sequential([Flatten(), Dense(784, 12, rng), ReLU(), Dropout(0.5, rng), Dense(12, 10, rng)])


@pytest.mark.parametrize("build", [small_mlp, odd_cnn], ids=["mlp", "cnn"])
def test_logit_gradient_matches_central_differences(tmp_path: Path, build: Any) -> None:
    model = InferenceModel.from_artifact(tiny_artifact(tmp_path, build(np.random.default_rng(3)), "grad"),
                                         dtype=np.float64)
    rng = np.random.default_rng(4)
    pixels = rng.uniform(0, 255, (3, 784))
    classes = np.array([2, 7, 0])
    logits, grad = model.logit_gradient(pixels, classes)
    assert grad.shape == pixels.shape
    np.testing.assert_allclose(logits, model.logits(pixels), rtol=1e-12)

    def chosen_logits() -> float:
        return float(model.logits(pixels)[np.arange(3), classes].sum())

    indices = rng.choice(pixels.size, 40, replace=False)
    numeric = numerical_gradient(chosen_logits, pixels, indices=indices, eps=1e-4)
    assert relative_error(grad.reshape(-1)[indices], numeric) < 1e-6


def test_loss_gradient_matches_central_differences(tmp_path: Path) -> None:
    model = InferenceModel.from_artifact(tiny_artifact(tmp_path, odd_cnn(np.random.default_rng(5)), "loss"),
                                         dtype=np.float64)
    rng = np.random.default_rng(6)
    pixels = rng.uniform(0, 255, (2, 28, 28))
    labels = np.array([3, 9])
    losses, grad = model.loss_gradient(pixels, labels)
    assert grad.shape == pixels.shape
    want = -np.log(softmax(model.logits(pixels))[np.arange(2), labels])
    np.testing.assert_allclose(losses, want, rtol=1e-10)

    def total_loss() -> float:
        return float(model.loss_gradient(pixels, labels)[0].sum())

    indices = rng.choice(pixels.size, 40, replace=False)
    numeric = numerical_gradient(total_loss, pixels, indices=indices, eps=1e-4)
    assert relative_error(grad.reshape(-1)[indices], numeric) < 1e-6


def test_gradients_share_the_served_model_safely(weights_dir: Path) -> None:
    """Concurrent gradients and predictions on one model give what each gives alone, and leave the
    shared layers holding no activations; chunk edges (63/64) answer as single images do."""
    model = InferenceModel.from_artifact(load_artifact(weights_dir / "mnist-cnn" / "1.npz"))
    pixels = np.random.default_rng(7).integers(0, 256, (70, 784)).astype(np.float32)
    classes = model.predict_proba(pixels).argmax(axis=1)
    _, together = model.logit_gradient(pixels, classes)
    singles = {i: model.logit_gradient(pixels[i:i + 1], classes[i:i + 1])[1][0] for i in (0, 63, 64, 69)}
    for i, alone in singles.items():
        np.testing.assert_allclose(together[i], alone, rtol=1e-4, atol=1e-6)

    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(model.logit_gradient, pixels[i:i + 1], classes[i:i + 1]) for i in range(8)]
        jobs += [pool.submit(model.predict_proba, pixels) for _ in range(2)]
        results = [job.result() for job in jobs]
    for i in range(8):
        np.testing.assert_allclose(results[i][1][0], together[i], rtol=1e-4, atol=1e-6)
    for proba in results[8:]:
        np.testing.assert_array_equal(proba, model.predict_proba(pixels))
    for layer in model.network.layers:
        assert all(getattr(layer, name, None) is None for name in ("x", "mask", "cols", "out", "shape"))
    with pytest.raises(RuntimeError, match="keep=True"):
        model.network.layers[-1].backward(np.ones((1, 10), np.float32))


def test_chunks_side_by_side_on_threads_give_the_same_answers(weights_dir: Path) -> None:
    artifact = load_artifact(weights_dir / "mnist-cnn" / "1.npz")
    pixels = np.random.default_rng(8).integers(0, 256, (100, 784)).astype(np.float32)
    one, two = (InferenceModel.from_artifact(artifact, threads=t) for t in (1, 2))
    assert two.chunk_images is not None and len(pixels) > 2 * two.chunk_images
    np.testing.assert_array_equal(two.predict_proba(pixels), one.predict_proba(pixels))
    # a call may ask for its own thread count (the batcher's), over the model's
    np.testing.assert_array_equal(one.predict_proba(pixels, threads=2), one.predict_proba(pixels))
