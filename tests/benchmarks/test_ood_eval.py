"""benchmarks/ood_eval.py on the shipped MLP, briefly: one row per set plus the model's own
fooling noise, each cell an AUROC and an FPR in percent, and the tables written where asked."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from ood_eval import LABELS, METHODS, WITHOUT_DIGITS, main, scribbles_read_as_digits  # noqa: E402

from training.outliers import DEFAULT_SEED, make_set  # noqa: E402


@pytest.mark.mnist
def test_prints_a_row_per_set_with_auroc_and_fpr(mnist_data_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ood.md"
    assert main(["--artifacts", str(REPO_ROOT / "weights/mnist-mlp/1.npz"), "--data-dir", str(mnist_data_dir),
                 "--size", "16", "--fit-size", "2000", "--sets", "uniform", "letters",
                 "--markdown", str(out), "--grid", str(tmp_path / "grids")]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy 99.23 %" in printed
    rows = {line.split("|")[1].strip(): line for line in printed.splitlines() if line.startswith("| ")}
    assert set(rows) == {"set", "---", "uniform", "letters", "fooling"}
    for name in ("uniform", "letters", "fooling"):
        cells = re.findall(r"(\d+\.\d+) / (\d+\.\d+)", rows[name])
        assert len(cells) == len(METHODS)
        assert all(0 <= float(a) <= 100 and 0 <= float(f) <= 100 for a, f in cells)
    assert out.read_text().count("| uniform |") == 1
    # what each set has that looks most like a digit, to look at: 16 tiles of 28 px (in a frame), 3x
    for name in ("uniform", "letters", "fooling"):
        with Image.open(tmp_path / "grids" / f"mnist-mlp-v1-{name}.png") as grid:
            assert grid.size == (8 * 30 * 3, 8 * 30 * 3)
            pixels = np.asarray(grid.convert("L"))
            assert np.ptp(pixels[3:87, 3:87]) > 0  # the first tile an image, not the flat filler
            assert np.ptp(pixels[-87:-3, -87:-3]) == 0  # of 64 places, the 16 images fill the first


@pytest.mark.mnist
def test_scribbles_read_as_digits_are_scored_apart(mnist_data_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Random scribbles that a person reads as a digit are counted again without them, from the labels."""
    labels = json.loads(LABELS.read_text())
    expected = sum(int(i) < 256 for i in labels["digit"])
    assert main(["--artifacts", str(REPO_ROOT / "weights/mnist-mlp/1.npz"), "--data-dir", str(mnist_data_dir),
                 "--size", "256", "--fit-size", "2000", "--sets", "scribbles"]) == 0
    printed = capsys.readouterr().out
    assert f"; {expected} scribbles read as digits by eye" in printed
    rows = {line.split("|")[1].strip(): line for line in printed.splitlines() if line.startswith("| ")}
    assert {"scribbles", WITHOUT_DIGITS} <= set(rows)
    assert len(re.findall(r"\d+\.\d+ / \d+\.\d+", rows[WITHOUT_DIGITS])) == len(METHODS)


def test_scribble_labels_refuse_a_changed_set() -> None:
    images = make_set("scribbles", 64)
    first = min(int(i) for i in json.loads(LABELS.read_text())["digit"])
    assert first < 64
    assert list(scribbles_read_as_digits(images, DEFAULT_SEED)) == sorted(
        int(i) for i in json.loads(LABELS.read_text())["digit"] if int(i) < 64)
    assert scribbles_read_as_digits(images, DEFAULT_SEED + 1) is None  # labelled: the default seed's set
    changed = images.copy()
    changed[first] = 255 - changed[first]
    with pytest.raises(ValueError, match=f"scribble {first} is not the image"):
        scribbles_read_as_digits(changed, DEFAULT_SEED)


def test_every_labelled_scribble_is_the_image_looked_at() -> None:
    """The labels name images of the default seed's set: each recorded hash matches that image now."""
    labels = json.loads(LABELS.read_text())
    kinds = ("digit", "unclear", "not_digit")
    named = {int(i): digest for kind in kinds for i, digest in labels[kind].items()}
    images = make_set("scribbles", max(named) + 1, labels["seed"])
    assert len(named) == sum(len(labels[kind]) for kind in kinds)  # one label an image
    assert {i for i in named if hashlib.sha256(images[i].tobytes()).hexdigest()[:16] != named[i]} == set()
