"""Random affine augmentation and bilinear sampling."""

from __future__ import annotations

import numpy as np

from training.augment import AffineConfig, bilinear_sample, random_affine

H, W = 12, 10


def grid(n: int, h: int = H, w: int = W) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return (np.repeat(yy.reshape(1, -1), n, axis=0).astype(np.float64),
            np.repeat(xx.reshape(1, -1), n, axis=0).astype(np.float64))


def images(n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, H, W)).astype(np.float32)


def blob(n: int = 4, size: int = 28, sigma: float = 3.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    img = np.exp(-((yy - c) ** 2 + (xx - c) ** 2) / (2 * sigma**2)).astype(np.float32)
    return np.repeat(img[None], n, axis=0)


def test_zero_ranges_return_input_unchanged() -> None:
    x = images()
    out = random_affine(x, np.random.default_rng(0), AffineConfig(0, 0, 0))
    assert out.shape == x.shape
    np.testing.assert_allclose(out, x, rtol=0, atol=1e-6)


def test_output_shape_and_dtype() -> None:
    x = images(5)
    out = random_affine(x, np.random.default_rng(1), AffineConfig())
    assert out.shape == (5, H, W)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6  # bilinear: a convex mix of pixels and 0


def test_same_seed_same_output_different_seed_differs() -> None:
    x = images(4)
    cfg = AffineConfig(15, 0.1, 2)
    a = random_affine(x, np.random.default_rng(42), cfg)
    b = random_affine(x, np.random.default_rng(42), cfg)
    c = random_affine(x, np.random.default_rng(43), cfg)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # each image of the batch gets its own transform
    same = np.repeat(x[:1], 4, axis=0)
    d = random_affine(same, np.random.default_rng(42), cfg)
    assert not np.allclose(d[0], d[1])


def test_does_not_modify_input() -> None:
    x = images()
    before = x.copy()
    random_affine(x, np.random.default_rng(0), AffineConfig())
    np.testing.assert_array_equal(x, before)


def test_shift_down_by_one_pixel_with_zero_fill() -> None:
    x = images()
    yy, xx = grid(3)
    out = bilinear_sample(x, yy - 1, xx).reshape(x.shape)
    expected = np.zeros_like(x)
    expected[:, 1:, :] = x[:, :-1, :]
    np.testing.assert_allclose(out, expected, atol=1e-7)


def test_shift_left_by_one_pixel_with_zero_fill() -> None:
    x = images()
    yy, xx = grid(3)
    out = bilinear_sample(x, yy, xx + 1).reshape(x.shape)
    expected = np.zeros_like(x)
    expected[:, :, :-1] = x[:, :, 1:]
    np.testing.assert_allclose(out, expected, atol=1e-7)


def test_half_pixel_is_the_mean_of_neighbours() -> None:
    x = images()
    yy, xx = grid(3)
    out = bilinear_sample(x, yy, xx + 0.5).reshape(x.shape)
    np.testing.assert_allclose(out[:, :, :-1], (x[:, :, :-1] + x[:, :, 1:]) / 2, atol=1e-6)
    np.testing.assert_allclose(out[:, :, -1], x[:, :, -1] / 2, atol=1e-6)  # zero beyond the edge


def test_far_outside_is_zero() -> None:
    x = images(2)
    coords = np.array([[-5.0, -1.0, float(H), H + 7.0]] * 2)
    inside = np.full((2, 4), 3.0)
    np.testing.assert_array_equal(bilinear_sample(x, coords, inside), 0.0)
    xcoords = np.array([[-5.0, -1.0, float(W), W + 7.0]] * 2)
    np.testing.assert_array_equal(bilinear_sample(x, inside, xcoords), 0.0)


def test_mass_roughly_preserved_for_small_transforms() -> None:
    x = blob(8)
    out = random_affine(x, np.random.default_rng(3), AffineConfig(10, 0.1, 2))
    ratio = out.sum(axis=(1, 2)) / x.sum(axis=(1, 2))
    assert np.all(ratio > 0.75) and np.all(ratio < 1.3)  # area scales by s^2 in [0.81, 1.21]
    # the blob moves by at most the shift (rotation/scale are about the centre)
    yy, xx = np.mgrid[0:28, 0:28]
    cy = (out * yy).sum(axis=(1, 2)) / out.sum(axis=(1, 2))
    cx = (out * xx).sum(axis=(1, 2)) / out.sum(axis=(1, 2))
    assert np.all(np.hypot(cy - 13.5, cx - 13.5) < 2 * np.sqrt(2) + 0.2)
    assert not np.allclose(out, x, atol=1e-3)


def test_shift_only_moves_centroid_within_range() -> None:
    x = blob(16)
    out = random_affine(x, np.random.default_rng(4), AffineConfig(0, 0, 1.5))
    yy, xx = np.mgrid[0:28, 0:28]
    mass = out.sum(axis=(1, 2))
    np.testing.assert_allclose(mass, x.sum(axis=(1, 2)), rtol=1e-3)
    cy = (out * yy).sum(axis=(1, 2)) / mass - 13.5
    cx = (out * xx).sum(axis=(1, 2)) / mass - 13.5
    assert np.all(np.abs(cy) <= 1.5 + 1e-3) and np.all(np.abs(cx) <= 1.5 + 1e-3)
    assert np.abs(cy).max() > 0.3 and np.abs(cx).max() > 0.3
