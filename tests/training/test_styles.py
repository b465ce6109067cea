"""Digits in styles MNIST lacks (training/styles.py): serif ones drawn onto MNIST's 1s, printed
digits from matplotlib's fonts, and `mnist-train --style-pool` putting them in the training pool."""

from __future__ import annotations

import numpy as np

from neuralnet.artifact import load_artifact
from training.cli import main
from training.data import Mnist
from training.outliers.frame import mnist_frame
from training.shifts import training_pool
from training.styles import font_digit, font_files, serif_one, style_digits


def ones(mnist: Mnist, n: int = 20) -> np.ndarray:
    return mnist.train_images[mnist.train_labels == 1][:n]


def test_a_serif_one_keeps_its_stroke_and_gains_a_flag_or_base(mnist: Mnist) -> None:
    rng = np.random.default_rng(0)
    for one in ones(mnist):
        made = serif_one(one, rng)
        assert made.shape == (28, 28) and made.dtype == np.uint8
        assert np.all(made >= one)  # drawn onto the 1, nothing of it erased
        added = (made > 96) & (one <= 96)
        assert added.sum() >= 4  # a flag or base a reader can see
        rows = np.flatnonzero((one > 96).any(axis=1))
        top, bottom = rows[0], rows[-1]
        added_rows = np.flatnonzero(added.any(axis=1))
        # a flag from the top down its upper half, a base across the foot: nothing in between
        assert np.all((added_rows <= top + (bottom - top) * 0.6) | (added_rows >= bottom - 2))


def test_serif_ones_are_reproducible_from_their_seed(mnist: Mnist) -> None:
    first = [serif_one(one, np.random.default_rng(4)) for one in ones(mnist, 5)]
    again = [serif_one(one, np.random.default_rng(4)) for one in ones(mnist, 5)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_every_font_prints_every_digit_as_its_own_shape() -> None:
    fonts = font_files()
    assert len(fonts) >= 10  # sans, serif, mono, STIX and Computer Modern faces
    for font in fonts:
        framed = [mnist_frame(font_digit(d, np.random.default_rng(d), (font,))) for d in range(10)]
        for d, image in enumerate(framed):
            assert (image > 128).sum() >= 20, (font.name, d)  # ink, not an empty box
        distinct = {image.tobytes() for image in framed}
        assert len(distinct) == 10, font.name  # no font draws two digits alike (a missing glyph)


def test_style_digits_are_half_serif_ones_and_labelled(mnist: Mnist) -> None:
    images, labels = style_digits(mnist.train_images[:3000], mnist.train_labels[:3000], 40,
                                  np.random.default_rng(1))
    assert images.shape == (40, 28, 28) and images.dtype == np.uint8
    assert np.all(labels[:20] == 1) and set(labels[20:].tolist()) <= set(range(10))
    assert all((image > 128).sum() >= 10 for image in images)


def test_the_training_pool_holds_shifted_digits_and_styles(mnist: Mnist) -> None:
    images, labels = training_pool(mnist.train_images[:500], mnist.train_labels[:500], 60, 30,
                                   np.random.default_rng(2))
    assert images.shape == (90, 28, 28) and labels.shape == (90,)
    assert (labels[60:] == 1).sum() >= 15  # the serif ones among the styles


def test_style_pool_goes_into_the_artifact_and_needs_shift_augment(mnist: Mnist, tmp_path, capsys,
                                                                   monkeypatch) -> None:
    monkeypatch.setattr("training.train.SHIFTED_PER_SET", 20)
    weights = tmp_path / "weights"
    args = ["--arch", "mlp", "--epochs", "1", "--limit-train", "800", "--no-progress", "--no-report",
            "--weights-dir", str(weights)]
    assert main([*args, "--style-pool", "50"]) == 2
    assert "--style-pool" in capsys.readouterr().err and not weights.exists()
    assert main([*args, "--shift-augment", "0.3", "--shift-pool", "100", "--style-pool", "50"]) == 0
    assert "50 in other writing styles" in capsys.readouterr().out
    training = load_artifact(weights / "mnist-mlp" / "1.npz").metadata["training"]
    assert training["style_pool"] == 50
