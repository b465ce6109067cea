"""Layer forward/backward: numerical gradient checks in float64, reference forwards, init, export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from neuralnet.artifact import load_artifact, save_artifact
from neuralnet.blas_rows import rows_alike
from neuralnet.gradcheck import numerical_gradient, relative_error
from neuralnet.layers import (
    ARTIFACT_LAYERS,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2D,
    ReLU,
)
from neuralnet.network import Sequential

TOL = 1e-6


def check_layer(layer: Layer, x: np.ndarray, seed: int = 0, before: Callable[[], None] | None = None,
                check_dx: bool = True) -> dict[str, float]:
    """Gradient-check dx and every parameter of `layer` at `x` with L = sum(y * R)."""
    layer.astype(np.float64)
    x = x.astype(np.float64)
    prep = before or (lambda: None)
    prep()
    y = layer.forward(x, training=True)
    R = np.random.default_rng(seed + 1000).standard_normal(y.shape)

    def loss() -> float:
        prep()
        return float(np.sum(layer.forward(x, training=True) * R))

    prep()
    layer.forward(x, training=True, keep=True)
    dx = layer.backward(R)
    analytic = {k: np.array(v, copy=True) for k, v in layer.grads.items()}
    errors: dict[str, float] = {}
    if check_dx:
        assert dx.shape == x.shape
        errors["x"] = relative_error(dx, numerical_gradient(loss, x))
    assert set(analytic) == set(layer.params)
    for k, p in layer.params.items():
        assert analytic[k].shape == p.shape
        errors[k] = relative_error(analytic[k], numerical_gradient(loss, p))
    for k, e in errors.items():
        assert e < TOL, f"gradient for {k}: relative error {e:.2e}"
    return errors


# ----------------------------------------------------------------------------- gradient checks

def test_dense_gradients() -> None:
    rng = np.random.default_rng(0)
    layer = Dense(5, 4, rng)
    layer.params["b"] = rng.standard_normal(4).astype(np.float32)
    check_layer(layer, rng.standard_normal((3, 5)))


@pytest.mark.parametrize("shape", [(3136, 256), (256, 10)])  # the served CNN's dense layers
def test_dense_one_row_gives_its_bits_in_a_batch_in_the_form_the_probe_picks(shape: tuple[int, int]) -> None:
    layer = Dense(*shape, np.random.default_rng(3))
    layer.astype(np.float32)
    layer.one_row_as_two = True
    layer.one_row_transposed = rows_alike(*shape, 1, 16, np.float32, transposed=True)
    batch = np.random.default_rng(4).standard_normal((16, shape[0])).astype(np.float32)
    alone = layer.forward(batch[-1:])
    assert np.array_equal(alone, layer.forward(batch)[-1:])
    layer.params["W"] = layer.params["W"] * 2  # new weights: the kept transpose follows them
    assert np.array_equal(layer.forward(batch[-1:]), layer.forward(batch)[-1:])
    assert np.allclose(layer.forward(batch[-1:]), 2 * alone - layer.params["b"], rtol=1e-4, atol=1e-4)


def test_relu_gradients_away_from_zero() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.1, 1.0, (3, 4, 4, 2)) * rng.choice([-1.0, 1.0], (3, 4, 4, 2))
    check_layer(ReLU(), x)
    y = ReLU().forward(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, 0.0))


def test_dropout_gradients_with_fixed_mask() -> None:
    rng = np.random.default_rng(2)
    layer = Dropout(0.4, np.random.default_rng(7))

    def reseed() -> None:
        layer.rng = np.random.default_rng(7)

    check_layer(layer, rng.standard_normal((4, 6)), before=reseed)
    # dx is exactly g * scale, where scale is 0 or 1/(1-p)
    x = rng.standard_normal((50, 40))
    reseed()
    y = layer.forward(x, training=True, keep=True)
    g = rng.standard_normal(x.shape)
    dx = layer.backward(g)
    kept = y != 0
    assert 0.45 < kept.mean() < 0.75
    np.testing.assert_allclose(y[kept], x[kept] / 0.6)
    np.testing.assert_allclose(dx, np.where(kept, g / 0.6, 0.0))


def test_dropout_is_identity_in_eval_mode() -> None:
    layer = Dropout(0.5, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((3, 5))
    np.testing.assert_array_equal(layer.forward(x, training=False, keep=True), x)
    g = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(g), g)


def test_dropout_rejects_bad_rate() -> None:
    with pytest.raises(ValueError):
        Dropout(1.0, np.random.default_rng(0))
    with pytest.raises(ValueError):
        Dropout(-0.1, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("c_in", "c_out", "k", "stride", "padding"),
    [
        (2, 3, 3, 1, 0),
        (2, 3, 3, 1, 1),
        (3, 2, 3, 2, 0),
        (3, 2, 3, 2, 1),
        (1, 2, 2, 1, 0),
        (2, 3, 2, 1, 1),
        (2, 2, 2, 2, 0),
        (2, 3, 2, 2, 1),
    ],
)
def test_conv2d_gradients(c_in: int, c_out: int, k: int, stride: int, padding: int) -> None:
    rng = np.random.default_rng(3)
    layer = Conv2D(c_in, c_out, k, rng, stride=stride, padding=padding)
    layer.params["b"] = rng.standard_normal(c_out).astype(np.float32)
    x = rng.standard_normal((2, 5, 5, c_in))
    check_layer(layer, x)
    y = layer.forward(x.astype(np.float64))
    assert y.shape[1:] == layer.output_shape((5, 5, c_in))


def test_conv2d_gradients_padding_at_least_kernel_size() -> None:
    rng = np.random.default_rng(4)
    check_layer(Conv2D(2, 2, 1, rng, stride=1, padding=1), rng.standard_normal((2, 4, 4, 2)))


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_skips_input_grad_when_not_needed(stride: int) -> None:
    rng = np.random.default_rng(5)
    layer = Conv2D(2, 3, 3, rng, stride=stride, padding=1)
    layer.needs_input_grad = False
    errors = check_layer(layer, rng.standard_normal((2, 5, 5, 2)), check_dx=False)
    assert set(errors) == {"W", "b"}
    x = rng.standard_normal((2, 5, 5, 2))
    y = layer.forward(x, keep=True)
    dx = layer.backward(np.ones_like(y))
    assert dx.size == 0


def test_sequential_marks_only_a_leading_conv_as_not_needing_input_grad() -> None:
    rng = np.random.default_rng(6)
    first, second = Conv2D(1, 2, 3, rng), Conv2D(2, 2, 3, rng)
    Sequential([first, ReLU(), second])
    assert first.needs_input_grad is False
    assert second.needs_input_grad is True
    later = Conv2D(1, 2, 3, rng)
    Sequential([ReLU(), later])
    assert later.needs_input_grad is True


def reference_conv(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, padding: int) -> np.ndarray:
    n, h, w, c_in = x.shape
    k, _, _, c_out = W.shape
    xp = np.zeros((n, h + 2 * padding, w + 2 * padding, c_in))
    xp[:, padding : padding + h, padding : padding + w] = x
    ho = (h + 2 * padding - k) // stride + 1
    wo = (w + 2 * padding - k) // stride + 1
    y = np.zeros((n, ho, wo, c_out))
    for ni in range(n):
        for i in range(ho):
            for j in range(wo):
                for o in range(c_out):
                    total = b[o]
                    for u in range(k):
                        for v in range(k):
                            for c in range(c_in):
                                total += xp[ni, stride * i + u, stride * j + v, c] * W[u, v, c, o]
                    y[ni, i, j, o] = total
    return y


@pytest.mark.parametrize(("k", "stride", "padding"), [(3, 1, 0), (3, 1, 1), (3, 2, 1), (2, 2, 0)])
def test_conv2d_forward_matches_reference(k: int, stride: int, padding: int) -> None:
    rng = np.random.default_rng(8)
    layer = Conv2D(2, 3, k, rng, stride=stride, padding=padding)
    layer.params["b"] = rng.standard_normal(3).astype(np.float32)
    layer.astype(np.float64)
    x = rng.standard_normal((2, 5, 5, 2))
    expected = reference_conv(x, layer.params["W"], layer.params["b"], stride, padding)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def distinct_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A random permutation of well-separated values: no ties, no near-ties under +-gradcheck.EPS."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 2.0).astype(np.float64)


@pytest.mark.parametrize(("size", "pool"), [(4, 2), (5, 2), (6, 3), (5, 3)])
def test_maxpool_gradients(size: int, pool: int) -> None:
    rng = np.random.default_rng(9)
    x = distinct_values(rng, (2, size, size, 3))
    check_layer(MaxPool2D(pool), x)


def test_maxpool_odd_size_gives_no_gradient_to_dropped_border() -> None:
    rng = np.random.default_rng(10)
    x = distinct_values(rng, (2, 5, 5, 2))
    layer = MaxPool2D(2)
    y = layer.forward(x, keep=True)
    assert y.shape == (2, 2, 2, 2)
    dx = layer.backward(np.ones_like(y))
    assert np.all(dx[:, 4, :, :] == 0) and np.all(dx[:, :, 4, :] == 0)
    # exactly one gradient per window, at the argmax
    assert dx.sum() == y.size


def reference_maxpool(x: np.ndarray, k: int) -> np.ndarray:
    n, h, w, c = x.shape
    y = np.zeros((n, h // k, w // k, c))
    for i in range(h // k):
        for j in range(w // k):
            y[:, i, j, :] = x[:, i * k : (i + 1) * k, j * k : (j + 1) * k, :].max(axis=(1, 2))
    return y


@pytest.mark.parametrize(("size", "pool"), [(4, 2), (5, 2), (7, 3)])
def test_maxpool_forward_matches_reference(size: int, pool: int) -> None:
    x = np.random.default_rng(11).standard_normal((2, size, size, 3))
    layer = MaxPool2D(pool)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, reference_maxpool(x, pool))
    assert y.shape[1:] == layer.output_shape((size, size, 3))


def test_maxpool_tie_routes_gradient_once() -> None:
    layer = MaxPool2D(2)
    x = np.ones((1, 2, 2, 1))
    layer.forward(x, keep=True)
    dx = layer.backward(np.full((1, 1, 1, 1), 3.0))
    assert dx.sum() == 3.0
    assert np.count_nonzero(dx) == 1


def test_flatten_gradients_and_order() -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 4, 2))
    check_layer(Flatten(), x)
    y = Flatten().forward(x)
    assert y.shape == (2, 24)
    # NHWC flattens as (h, w, c), C-order
    assert y[1, 2 * 4 * 2 + 3 * 2 + 1] == x[1, 2, 3, 1]
    assert Flatten().output_shape((3, 4, 2)) == (24,)


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 3, 3)])
def test_batchnorm_gradients_training_mode(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(13)
    features = shape[-1]
    layer = BatchNorm(features)
    layer.params["gamma"] = rng.uniform(0.5, 1.5, features).astype(np.float32)
    layer.params["beta"] = rng.standard_normal(features).astype(np.float32)
    x = rng.standard_normal(shape) * 2.0 + 1.0
    check_layer(layer, x)


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 3, 3)])
def test_batchnorm_with_statistics_from_the_first_rows(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(16)
    features = shape[-1]
    layer = BatchNorm(features, momentum=0.5)
    layer.params["gamma"] = rng.uniform(0.5, 1.5, features).astype(np.float32)
    layer.stats_rows = 3
    # the rows after the third (outliers) are far from the first three (digits)
    far = np.where(np.arange(shape[0]) < 3, 0.0, 8.0).reshape(-1, *[1] * (len(shape) - 1))
    x = rng.standard_normal(shape) + far
    check_layer(layer, x)
    layer.running_mean[:] = 0
    y = layer.forward(x, training=True)
    axes = tuple(range(len(shape) - 1))
    np.testing.assert_allclose(y[:3].mean(axis=axes), layer.params["beta"], atol=1e-6)  # normalised
    assert (y[3:].mean(axis=axes) > 2).all()  # the others: by the first rows' statistics, so far off
    np.testing.assert_allclose(layer.running_mean, 0.5 * x[:3].mean(axis=axes), rtol=1e-5)
    layer.stats_rows = 10  # more rows than the batch has: all of them
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=axes), layer.params["beta"], atol=1e-6)


def test_batchnorm_training_output_is_normalised_and_updates_running_stats() -> None:
    rng = np.random.default_rng(14)
    layer = BatchNorm(3, momentum=0.9)
    x = rng.standard_normal((4, 5, 5, 3)) * np.array([1.0, 2.0, 3.0]) + np.array([5.0, -1.0, 0.5])
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), 1.0, rtol=1e-3)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=(0, 1, 2)), rtol=1e-5)


def test_batchnorm_eval_mode_uses_running_statistics() -> None:
    rng = np.random.default_rng(15)
    layer = BatchNorm(3, eps=1e-5)
    layer.params["gamma"] = np.array([0.5, 2.0, 1.0], np.float32)
    layer.params["beta"] = np.array([0.1, -0.3, 0.0], np.float32)
    layer.running_mean = np.array([1.0, -2.0, 0.5], np.float32)
    layer.running_var = np.array([4.0, 0.25, 1.0], np.float32)
    x = rng.standard_normal((2, 3, 3, 3))
    y = layer.forward(x, training=False)
    expected = (layer.params["gamma"] * (x - layer.running_mean) / np.sqrt(layer.running_var + 1e-5)
                + layer.params["beta"])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    # eval forward does not touch the running statistics, and does not depend on the batch
    np.testing.assert_array_equal(layer.running_mean, [1.0, -2.0, 0.5])
    np.testing.assert_allclose(layer.forward(x[:1]), y[:1], rtol=1e-6)


def test_astype_converts_params_and_batchnorm_stats() -> None:
    rng = np.random.default_rng(16)
    for layer in (Dense(3, 2, rng), Conv2D(1, 2, 3, rng), BatchNorm(4)):
        layer.astype(np.float64)
        assert all(v.dtype == np.float64 for v in layer.params.values())
    assert layer.running_mean.dtype == np.float64
    assert layer.running_var.dtype == np.float64


# ----------------------------------------------------------------------------- initialisation

def test_dense_he_init() -> None:
    layer = Dense(800, 400, np.random.default_rng(17))
    W = layer.params["W"]
    assert W.dtype == np.float32 and W.shape == (800, 400)
    assert abs(W.std() / np.sqrt(2 / 800) - 1) < 0.02
    assert abs(W.mean()) < 0.005
    np.testing.assert_array_equal(layer.params["b"], 0.0)


def test_conv2d_he_init() -> None:
    layer = Conv2D(16, 256, 3, np.random.default_rng(18))
    W = layer.params["W"]
    assert W.dtype == np.float32 and W.shape == (3, 3, 16, 256)
    assert abs(W.std() / np.sqrt(2 / (3 * 3 * 16)) - 1) < 0.02
    np.testing.assert_array_equal(layer.params["b"], 0.0)


# ----------------------------------------------------------------------------- export / fold

def small_bn_model(rng: np.random.Generator) -> Sequential:
    layers: list[Layer] = [
        Conv2D(1, 3, 3, rng, padding=1),
        BatchNorm(3),
        ReLU(),
        Conv2D(3, 4, 3, rng, stride=2, padding=1),
        BatchNorm(4),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(2 * 2 * 4, 6, rng),
        BatchNorm(6),
        ReLU(),
        Dropout(0.3, rng),
        Dense(6, 10, rng),
    ]
    for layer in layers:
        if isinstance(layer, BatchNorm):
            f = layer.features
            layer.params["gamma"] = rng.uniform(0.5, 1.5, f).astype(np.float32)
            layer.params["beta"] = rng.uniform(-0.5, 0.5, f).astype(np.float32)
        if isinstance(layer, Dense | Conv2D):
            layer.params["b"] = rng.uniform(-0.5, 0.5, layer.params["b"].shape).astype(np.float32)
    return Sequential(layers)


def test_export_folds_batchnorm_and_round_trips_through_artifact(tmp_path: Path) -> None:
    rng = np.random.default_rng(19)
    model = small_bn_model(rng)
    for _ in range(5):  # move the running statistics away from (0, 1)
        batch = (rng.standard_normal((8, 8, 8, 1)) * 1.5 + 0.7).astype(np.float32)
        model.forward(batch, training=True)
    bn = model.layers[1]
    assert isinstance(bn, BatchNorm)
    assert np.abs(bn.running_mean).max() > 0.05

    arch, arrays = model.export()
    assert [spec["type"] for spec in arch] == [
        "conv2d", "relu", "conv2d", "relu", "maxpool2d", "flatten", "dense", "relu", "dropout", "dense"
    ]
    assert all(a.dtype == np.float32 for a in arrays.values())
    meta = {"model_name": "tiny-cnn", "architecture": arch,
            "input": {"shape": [8, 8, 1], "mean": 0, "std": 1},
            "labels": [str(d) for d in range(10)]}
    path = save_artifact(tmp_path, meta, arrays)
    rebuilt = Sequential.from_artifact(load_artifact(path))

    x = rng.standard_normal((5, 8, 8, 1)).astype(np.float32)
    expected = model.forward(x, training=False)
    got = rebuilt.forward(x, training=False)
    assert got.shape == expected.shape == (5, 10)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- the layer table

def test_every_artifact_layer_type_round_trips_through_its_spec() -> None:
    rng = np.random.default_rng(20)
    examples = [Conv2D(2, 3, 3, rng, stride=2, padding=1), Dense(4, 5, rng), ReLU(), MaxPool2D(3), Flatten(),
                Dropout(0.25, rng)]
    assert {type(layer) for layer in examples} == set(ARTIFACT_LAYERS.values())
    for layer in examples:
        spec = layer.spec()
        rebuilt = ARTIFACT_LAYERS[spec["type"]].from_spec(spec)
        assert type(rebuilt) is type(layer)
        assert rebuilt.spec() == spec
        shapes = {k: v.shape for k, v in layer.params.items()}
        assert {k: v.shape for k, v in rebuilt.params.items()} == shapes
        assert type(layer).param_shapes(spec) == shapes
    assert "batchnorm" not in ARTIFACT_LAYERS  # folded away at export, never in an artifact


@pytest.mark.parametrize("layer", [Dense(3, 2), ReLU(), Flatten(), MaxPool2D(2), Conv2D(1, 2, 3)],
                         ids=lambda layer: layer.kind)
def test_inference_forward_keeps_nothing_for_backward(layer: Layer) -> None:
    x = np.random.default_rng(21).standard_normal((2, 3) if isinstance(layer, Dense) else (2, 4, 4, 1))
    y = layer.forward(x)
    with pytest.raises(RuntimeError, match="keep=True"):
        layer.backward(np.ones_like(y))
    layer.forward(x, keep=True)
    assert layer.backward(np.ones_like(y)).shape == x.shape
