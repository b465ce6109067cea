"""benchmarks/real_digits_eval.py: an 8x8 scan becomes the PNG a user would send, and the table
gives accuracy, acceptance and ECE per set (no accuracy for the non-digit sets)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from real_digits_eval import RESAMPLING, UPSCALED, markdown, png_of_scan  # noqa: E402

from service.codecs.images import mnist_input  # noqa: E402

SEVEN = np.array([[0, 0, 0, 0, 0, 0, 0, 0], [0, 16, 16, 16, 16, 16, 0, 0], [0, 0, 0, 0, 14, 12, 0, 0],
                  [0, 0, 0, 4, 16, 2, 0, 0], [0, 0, 0, 12, 10, 0, 0, 0], [0, 0, 4, 16, 2, 0, 0, 0],
                  [0, 0, 12, 10, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]])


def test_a_scan_becomes_a_dark_on_white_png_the_image_route_reads_as_light_ink() -> None:
    for resample in RESAMPLING.values():
        picture = np.asarray(Image.open(io.BytesIO(png_of_scan(SEVEN, resample))))
        assert picture.shape == (UPSCALED, UPSCALED)
        assert picture[0, 0] == 255 and picture.min() < 30  # white paper, dark ink
        frame = mnist_input(png_of_scan(SEVEN, resample), 1 << 20, 1 << 20, ["file"])
        assert frame.shape == (28, 28) and frame[0, 0] == 0 and frame.max() >= 200


def test_table_has_a_column_per_model_and_dashes_where_there_is_no_label() -> None:
    results = {"m v1": {"digits": {"accuracy": 0.95, "accepted": 0.885, "ece": 0.068},
                        "non-digit: blank": {"accepted": 0.0}}}
    table = markdown(results, "cmd")
    assert "| set | m v1 |" in table
    assert "| digits | 95.00 / 88.50 / 6.80 |" in table
    assert "| non-digit: blank | - / 0.00 / - |" in table
