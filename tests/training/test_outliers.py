"""The generated non-digit sets: fixed by their seed, small, MNIST-shaped, prepared as MNIST
digits where they have ink, and free of the letters that pass for digits."""

from __future__ import annotations

import numpy as np
import pytest

from training.outliers import SETS, make_set, make_sets
from training.outliers.frame import centre_of_mass, mnist_frame
from training.outliers.letters import EXCLUDED, LETTERS, letter_fonts
from training.outliers.noise import GAINS, brighten_until_fooled, noise_bases

N = 24
PREPARED = ("strokes", "scribbles", "tangles", "shapes", "letters", "textures")


@pytest.fixture(scope="module")
def sets() -> dict[str, np.ndarray]:
    return make_sets(N)


def test_every_set_is_uint8_28x28_of_the_asked_size(sets: dict[str, np.ndarray]) -> None:
    assert set(sets) == set(SETS)
    for name, images in sets.items():
        assert images.shape == (N, 28, 28), name
        assert images.dtype == np.uint8, name


def test_same_seed_same_images_other_seed_other_images(sets: dict[str, np.ndarray]) -> None:
    for name in SETS:
        assert np.array_equal(make_set(name, N), sets[name]), name
        if name not in ("blank", "constant"):  # four possible images; evenly spaced levels
            assert not np.array_equal(make_set(name, N, seed=1), sets[name]), name


def test_a_set_does_not_depend_on_another_sets_size() -> None:
    assert np.array_equal(make_set("letters", 5), make_sets(5, names=("uniform", "letters"))["letters"])
    assert np.array_equal(make_set("shapes", 10)[:5], make_set("shapes", 5))


def test_default_sets_are_small() -> None:
    from training.outliers import DEFAULT_SIZE

    assert 200 <= DEFAULT_SIZE <= 500


def test_full_frame_sets_are_what_they_say(sets: dict[str, np.ndarray]) -> None:
    assert sets["blank"].max() <= 3
    flat = sets["constant"].reshape(N, -1)
    assert (flat == flat[:, :1]).all() and flat[0, 0] == 0 and flat[-1, 0] == 255
    assert set(np.unique(sets["dots"])) <= {0, 255}
    assert 0.005 < (sets["dots"] > 0).mean() < 0.15
    assert sets["uniform"].reshape(N, -1).std(axis=1).min() > 0
    assert len(np.unique(sets["uniform"])) > 200


def test_prepared_sets_are_centred_by_mass_in_a_20_pixel_box(sets: dict[str, np.ndarray]) -> None:
    for name in PREPARED:
        for image in sets[name]:
            cy, cx = centre_of_mass(image)
            # a texture fills its whole 20 px box: the shift that would centre it further is
            # clamped to keep the box in the frame
            near = 1.5 if name == "textures" else 1.0
            assert abs(cy - 14) <= near and abs(cx - 14) <= near, name
            rows = np.flatnonzero(image.any(axis=1))
            cols = np.flatnonzero(image.any(axis=0))
            longer = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
            assert 19 <= longer <= 23, (name, longer)  # 20, plus Lanczos' faint fringe


def test_textures_are_what_the_image_route_makes_of_the_same_pictures() -> None:
    import io

    from PIL import Image

    from service.codecs.images import mnist_input
    from training.outliers import uploaded

    rng = np.random.default_rng(3)
    for _ in range(8):
        picture = uploaded._texture(rng)
        png = io.BytesIO()
        Image.fromarray(picture).save(png, "PNG")
        served = mnist_input(png.getvalue(), 10**7, 10**7, ["body"]).astype(int)
        generated = uploaded.mnist_frame(uploaded._ink(picture.astype(np.float32))).astype(int)
        assert np.abs(served - generated).max() <= 1


def test_mnist_frame_moves_an_off_centre_blob_to_the_centre() -> None:
    drawing = np.zeros((100, 60), np.float32)
    drawing[5:25, 40:50] = 255  # a 20x10 bar in a corner
    frame = mnist_frame(drawing)
    assert frame.shape == (28, 28) and frame.dtype == np.uint8
    cy, cx = centre_of_mass(frame)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    rows = np.flatnonzero((frame > 128).any(axis=1))
    assert rows[-1] - rows[0] + 1 == 20
    assert not mnist_frame(np.zeros((50, 50))).any()


def test_tangles_cross_more_ink_than_scribbles() -> None:
    """Tangles are shown to training because, unlike scribbles, they are too busy to be a digit."""
    tangles, scribbles = make_set("tangles", 64), make_set("scribbles", 64)
    assert (tangles > 127).mean() > 1.25 * (scribbles > 127).mean()


def test_letters_leave_out_the_digit_look_alikes() -> None:
    for letter in "OoIlSZBgq":
        assert letter in EXCLUDED and letter not in LETTERS
    assert set(LETTERS) | EXCLUDED == set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    assert len(LETTERS) >= 26
    assert letter_fonts()[0].startswith("pillow:")  # Pillow's own font: never an empty set


def test_brighten_until_fooled_keeps_the_first_fooling_gain() -> None:
    bases = noise_bases(np.random.default_rng(0), 3)

    def confidence(images: np.ndarray) -> np.ndarray:  # fooled once the mean passes 20, never for [2]
        return np.where((images.reshape(3, -1).mean(axis=1) > 20) & (np.arange(3) < 2), 1.0, 0.0)

    chosen = brighten_until_fooled(bases, confidence)
    for i in range(2):
        assert chosen[i].mean() > 20
        gain = next(g for g in GAINS if np.clip(np.rint(bases[i] * g), 0, 255).mean() > 20)
        assert np.array_equal(chosen[i], np.clip(np.rint(bases[i] * gain), 0, 255).astype(np.uint8))
    assert np.array_equal(chosen[2], np.clip(np.rint(bases[2] * GAINS[-1]), 0, 255).astype(np.uint8))
