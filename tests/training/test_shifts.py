"""Shifted digits (training/shifts.py): reproducible from their seed, prepared as the image route
prepares an upload, still the digit they came from; and `mnist-train --shift-augment`."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from neuralnet.artifact import load_artifact
from service.codecs.images import mnist_input
from training.cli import main
from training.data import Mnist
from training.outliers.frame import centre_of_mass
from training.shifts import SHIFTS, make_shifted, prepared, shift_rng, shifted


def digits(mnist: Mnist, n: int = 12) -> np.ndarray:
    return mnist.test_images[:n]


def test_same_seed_same_images_other_seed_other_images(mnist: Mnist) -> None:
    first, again = make_shifted(digits(mnist), seed=5), make_shifted(digits(mnist), seed=5)
    other = make_shifted(digits(mnist), seed=6)
    assert set(first) == set(SHIFTS)
    for name in SHIFTS:
        assert np.array_equal(first[name], again[name]), name
        assert not np.array_equal(first[name], other[name]), name


def test_a_set_does_not_depend_on_which_others_are_made(mnist: Mnist) -> None:
    alone = make_shifted(digits(mnist), seed=5, names=("jpeg",))
    assert np.array_equal(alone["jpeg"], make_shifted(digits(mnist), seed=5)["jpeg"])


@pytest.mark.parametrize("name", list(SHIFTS))
def test_every_shift_gives_mnist_frames_with_the_ink_centred(mnist: Mnist, name: str) -> None:
    images = shifted(digits(mnist), name, shift_rng(name))
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8
    # ink stretched towards full contrast (uneven lighting on paper can leave a lit patch brighter)
    peaks = images.reshape(12, -1).max(axis=1)
    assert (peaks >= 64).all() and np.median(peaks) >= 240
    for image in images:
        assert np.allclose(centre_of_mass(image), (14, 14), atol=1.0)
    assert not np.array_equal(images, digits(mnist))  # shifted, not the digits unchanged


def test_shifted_digits_stay_close_to_their_digit_in_shape(mnist: Mnist) -> None:
    # each shifted digit overlaps its own clean digit more than the other digits on average
    clean = digits(mnist, 40).reshape(40, -1).astype(np.float64)
    for name, images in make_shifted(digits(mnist, 40), names=("blur", "jpeg", "lowres16")).items():
        x = images.reshape(40, -1).astype(np.float64)
        similarity = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (
            clean / np.linalg.norm(clean, axis=1, keepdims=True)).T
        assert (similarity.argmax(axis=1) == np.arange(40)).mean() > 0.8, name


def png(picture: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG")
    return buffer.getvalue()


def test_preparation_is_the_image_routes(mnist: Mnist) -> None:
    rng = np.random.default_rng(3)
    for digit in digits(mnist, 6):
        picture = np.rint(SHIFTS["paper"](digit.astype(np.float32), rng)).astype(np.uint8)
        ours = prepared(picture.astype(np.float32))
        assert ours is not None
        served = mnist_input(png(picture), 1 << 20, 1 << 20, ["file"])
        assert np.abs(ours.astype(int) - served.astype(int)).max() <= 1


def test_a_picture_the_route_calls_blank_is_not_prepared() -> None:
    faint = np.full((40, 40), 200.0, np.float32)
    faint[10:30, 18:22] = 180.0  # 20 levels of contrast: the route answers 422 "blank"
    assert prepared(faint) is None


def test_unknown_shift_is_named() -> None:
    with pytest.raises(KeyError, match="smudge"):
        shifted(np.zeros((1, 28, 28), np.uint8), "smudge", np.random.default_rng(0))


def test_shift_augment_fits_the_threshold_on_shifted_digits_too(mnist: Mnist, tmp_path, capsys,
                                                                 monkeypatch) -> None:
    monkeypatch.setattr("training.train.SHIFTED_PER_SET", 40)  # a quick run: few shifted digits
    weights = tmp_path / "weights"
    args = ["--arch", "mlp", "--epochs", "1", "--limit-train", "1500", "--no-progress", "--no-report",
            "--weights-dir", str(weights), "--seed", "3", "--checkpoint-dir", str(tmp_path / "ck")]
    assert main([*args, "--shift-augment", "0.5", "--shift-pool", "300"]) == 0
    assert main([*args, "--model-name", "plain"]) == 0
    capsys.readouterr()
    with_shifts = load_artifact(weights / "mnist-mlp" / "1.npz").metadata
    plain = load_artifact(weights / "plain" / "1.npz").metadata
    assert with_shifts["training"]["shift_augment"] == 0.5
    ood = with_shifts["ood"]
    assert ood["fitted_on"] == "validation digits, clean and shifted"
    assert set(ood["shifted"]) == set(SHIFTS)
    for row in ood["shifted"].values():
        assert 0 <= row["accepted"] <= 1 and 0 <= row["accuracy"] <= 1
    assert plain["ood"]["fitted_on"] == "validation digits" and plain["ood"]["shifted"] == {}
    assert (tmp_path / "ck" / "epoch-001.npz").exists()


def test_shift_augment_outside_0_to_1_is_refused(tmp_path, capsys) -> None:
    assert main(["--shift-augment", "1.5", "--weights-dir", str(tmp_path)]) == 2
    assert "--shift-augment 1.5" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
