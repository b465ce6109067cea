"""service/codecs/images.py: image files to the 28x28 input MNIST-style, and every kind of bad file."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from service.codecs.images import mnist_input
from service.errors import ServiceError
from testkit.images import encode, on_transparent_canvas, png_claiming_size, render

LIMIT_BYTES = 1 << 20
LIMIT_PIXELS = 4096 * 4096
LOC = ["body", "file"]


def preprocess(data: bytes, max_bytes: int = LIMIT_BYTES, max_pixels: int = LIMIT_PIXELS) -> np.ndarray:
    return mnist_input(data, max_bytes, max_pixels, LOC)


def refused(data: bytes, status: int, code: str, **limits: int) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        preprocess(data, **limits)
    error = info.value
    assert (error.status, error.code) == (status, code), error.message
    assert error.message.startswith("body.file: ")
    assert error.details == [{"loc": LOC, "msg": error.message.removeprefix("body.file: "),
                              "type": error.details[0]["type"]}]
    return error


def ink_box(frame: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(frame.any(axis=1)), np.flatnonzero(frame.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def centre_of_mass(frame: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(frame.shape)
    total = frame.sum()
    return float((ys * frame).sum() / total), float((xs * frame).sum() / total)


@pytest.fixture(scope="module")
def digit(example_digit: dict[str, Any]) -> np.ndarray:
    """The example MNIST test digit (a 7) as a (28, 28) uint8 array."""
    return np.array(example_digit["pixels"], np.uint8)


def test_an_mnist_digit_comes_back_nearly_unchanged(digit: np.ndarray) -> None:
    frame = preprocess(encode(Image.fromarray(digit)))
    assert frame.shape == (28, 28) and frame.dtype == np.uint8
    assert np.abs(frame.astype(int) - digit).mean() < 2


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


@pytest.mark.parametrize(("size", "dark_on_light", "pad", "fmt", "min_correlation"), [
    (280, True, (0, 0, 0, 0), "PNG", 0.95),
    (56, False, (10, 30, 2, 0), "PNG", 0.95),
    (200, True, (60, 0, 0, 90), "JPEG", 0.95),
    (19, False, (3, 3, 3, 3), "PNG", 0.7),  # smaller than the 20 px box: detail lost, scaled back up
])
def test_other_sizes_polarities_and_offsets_give_the_mnist_frame(digit: np.ndarray, size: int,
                                                                  dark_on_light: bool,
                                                                  pad: tuple[int, int, int, int],
                                                                  fmt: str, min_correlation: float) -> None:
    frame = preprocess(render(digit, size, dark_on_light, pad, fmt))
    assert max(ink_box(frame)) == 20  # the longer side of the digit is 20 px, as in MNIST
    cy, cx = centre_of_mass(frame.astype(float))
    assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6
    assert frame.max() == 255 and frame[0].max() == frame[-1].max() == 0  # white ink on a black field
    # close to the original MNIST array (same digit, same place), whatever size and polarity it came in;
    # (measured 0.96-0.98, and 0.73 for the 19 px one; the same digit one pixel off scores 0.75-0.79)
    assert correlation(frame, digit) > min_correlation


def test_polarity_does_not_matter(digit: np.ndarray) -> None:
    light = preprocess(render(digit, 140, dark_on_light=False))
    dark = preprocess(render(digit, 140, dark_on_light=True))
    assert np.array_equal(light, dark)


def test_aspect_ratio_is_kept() -> None:
    canvas = np.full((300, 300), 255, np.uint8)
    canvas[50:250, 140:160] = 0  # a black bar 200 tall, 20 wide: a "1"
    frame = preprocess(encode(Image.fromarray(canvas)))
    assert ink_box(frame) == (20, 2)


@pytest.mark.parametrize("ink", [(0, 0, 0), (255, 255, 255), (20, 40, 200)])
def test_a_drawing_on_a_transparent_canvas_is_read_as_its_strokes(digit: np.ndarray,
                                                                    ink: tuple[int, int, int]) -> None:
    expected = preprocess(render(digit, 112, dark_on_light=False))
    frame = preprocess(on_transparent_canvas(digit, 112, ink))
    assert np.abs(frame.astype(int) - expected).mean() < 3


def test_a_palette_png_with_a_transparent_white_background(digit: np.ndarray) -> None:
    expected = preprocess(render(digit, 140, dark_on_light=True))
    palette = Image.open(io.BytesIO(render(digit, 140, dark_on_light=True))).convert("P")
    white = int(np.asarray(palette)[0, 0])
    assert palette.getpalette()[3 * white : 3 * white + 3] == [255, 255, 255]
    # the visible pixels (black strokes, grey anti-aliased edges) average mid-grey here; the
    # transparent ones keep their white
    frame = preprocess(encode(palette, transparency=white))
    assert np.abs(frame.astype(int) - expected).mean() < 1


def test_coloured_ink_on_tinted_paper_and_a_16_bit_png(digit: np.ndarray) -> None:
    expected = preprocess(render(digit, 84, dark_on_light=False))
    big = np.asarray(Image.fromarray(digit).resize((84, 84), Image.Resampling.BILINEAR), np.float64) / 255
    paper, ink = np.array([250, 240, 200]), np.array([30, 30, 150])  # blue ink on yellowish paper
    rgb = (paper * (1 - big[..., None]) + ink * big[..., None]).astype(np.uint8)
    assert np.abs(preprocess(encode(Image.fromarray(rgb))).astype(int) - expected).mean() < 3
    sixteen = Image.fromarray((big * 65535).astype(np.uint16))
    assert sixteen.mode.startswith("I;16")
    assert np.abs(preprocess(encode(sixteen)).astype(int) - expected).mean() < 3


def test_exif_orientation_is_applied(digit: np.ndarray) -> None:
    upright = Image.open(io.BytesIO(render(digit, 140, dark_on_light=True)))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera stored it turned; viewers rotate 90 degrees clockwise
    stored = encode(upright.rotate(90, expand=True), "JPEG", exif=exif, quality=95)
    expected = preprocess(encode(upright, "JPEG", quality=95))
    assert np.abs(preprocess(stored).astype(int) - expected).mean() < 2


def test_a_large_photo_is_reduced_first(digit: np.ndarray) -> None:
    frame = preprocess(render(digit, 3000, dark_on_light=True, fmt="JPEG"), max_bytes=1 << 24)
    assert max(ink_box(frame)) == 20
    assert correlation(frame, digit) > 0.95


def _large(digit: np.ndarray, mode: str) -> Image.Image:
    """The digit at 2,500 px (reduced by 3 before anything else) in `mode`, dark on white."""
    gray = Image.open(io.BytesIO(render(digit, 2500, dark_on_light=True)))
    if mode == "I;16":
        return Image.fromarray(np.asarray(gray, np.uint16) * 257)
    if mode in ("LA", "RGBA"):
        return Image.merge(mode, [gray] * (len(mode) - 1) + [Image.new("L", gray.size, 255)])
    return gray.convert(mode)


@pytest.mark.parametrize("mode", ["1", "P", "LA", "RGB", "RGBA", "I;16"])
def test_a_large_image_of_any_mode_gives_the_frame_of_its_8_bit_gray_version(digit: np.ndarray,
                                                                              mode: str) -> None:
    expected = preprocess(encode(_large(digit, "L")), max_bytes=1 << 24)
    frame = preprocess(encode(_large(digit, mode)), max_bytes=1 << 24)
    assert np.abs(frame.astype(int) - expected).mean() < (12 if mode == "1" else 2)
    assert correlation(frame, digit) > 0.9


def test_exif_orientation_survives_the_reduction_of_a_large_image(digit: np.ndarray) -> None:
    upright = _large(digit, "L")
    exif = Image.Exif()
    exif[0x0112] = 8  # Orientation: viewers rotate 90 degrees counter-clockwise
    stored = encode(upright.rotate(-90, expand=True), "PNG", exif=exif)
    expected = preprocess(encode(upright), max_bytes=1 << 24)
    assert np.abs(preprocess(stored, max_bytes=1 << 24).astype(int) - expected).mean() < 2


# ---- bad files

@pytest.mark.parametrize("blank", [
    encode(Image.new("L", (280, 280), 255)),
    encode(Image.new("L", (28, 28), 0)),
    encode(Image.new("RGB", (100, 50), (128, 90, 200))),
    encode(Image.new("RGBA", (64, 64), (0, 0, 0, 0))),
    encode(Image.fromarray(np.random.default_rng(0).integers(235, 256, (200, 200), dtype=np.uint8)),
           "JPEG", quality=50),  # paper grain and JPEG noise are not a digit
], ids=["white", "black", "colour", "transparent", "noisy-jpeg"])
def test_a_blank_canvas_is_refused(blank: bytes) -> None:
    error = refused(blank, 422, "empty_image")
    assert "no digit" in error.message


def test_empty_file() -> None:
    refused(b"", 422, "empty_file")


@pytest.mark.parametrize("data", [b"hello, world", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b"{\"pixels\": []}",
                                  encode(Image.new("L", (28, 28)), "GIF"),
                                  encode(Image.new("L", (28, 28)), "BMP")],
                         ids=["text", "png-signature-only", "json", "gif", "bmp"])
def test_not_a_png_or_jpeg(data: bytes) -> None:
    error = refused(data, 422, "not_an_image")
    assert "not a PNG or JPEG" in error.message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(digit: np.ndarray, fmt: str) -> None:
    data = render(digit, 280, dark_on_light=True, fmt=fmt)
    error = refused(data[: len(data) // 2], 422, "truncated_image")
    assert f"{fmt} image is truncated" in error.message


def test_corrupt_png_data(digit: np.ndarray) -> None:
    data = bytearray(render(digit, 280, dark_on_light=True))
    start = data.index(b"IDAT") + 4
    data[start : start + 64] = bytes(64)  # zeroed compressed data: the zlib stream is broken
    refused(bytes(data), 422, "corrupt_image")


def test_too_many_bytes(digit: np.ndarray) -> None:
    data = render(digit, 280, dark_on_light=True)
    error = refused(data, 413, "image_too_large", max_bytes=len(data) - 1)
    assert f"{len(data)} bytes" in error.message and f"limit of {len(data) - 1}" in error.message
    assert preprocess(data, max_bytes=len(data)).shape == (28, 28)


def test_too_many_pixels_is_refused_before_decoding() -> None:
    # the header claims 5000 x 5000 but the file is tiny: decoding would fail, so a 413 proves the
    # size was checked first
    error = refused(png_claiming_size(5000, 5000), 413, "image_too_large")
    assert "5000x5000 = 25000000 pixels" in error.message
    refused(encode(Image.new("L", (101, 100), 255)), 413, "image_too_large", max_pixels=100 * 100)


def test_a_decompression_bomb_header_beyond_pillows_own_limit() -> None:
    refused(png_claiming_size(30000, 30000), 413, "image_too_large")
