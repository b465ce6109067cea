"""Image files for the image-input tests: MNIST arrays rendered as PNG/JPEG at other sizes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def render(pixels: np.ndarray, size: int, dark_on_light: bool, pad: tuple[int, int, int, int] = (0, 0, 0, 0),
           fmt: str = "PNG", quality: int = 90) -> bytes:
    """A 28x28 MNIST image scaled to `size` x `size` (bilinear), optionally inverted to dark ink on
    white, with `pad` = (top, left, bottom, right) pixels of background around it."""
    digit = Image.fromarray(np.asarray(pixels, np.uint8).reshape(28, 28)).resize((size, size),
                                                                               Image.Resampling.BILINEAR)
    if dark_on_light:
        digit = Image.fromarray(255 - np.asarray(digit))
    top, left, bottom, right = pad
    canvas = Image.new("L", (left + size + right, top + size + bottom), 255 if dark_on_light else 0)
    canvas.paste(digit, (left, top))
    return encode(canvas, fmt, quality=quality) if fmt == "JPEG" else encode(canvas, fmt)


def on_transparent_canvas(pixels: np.ndarray, size: int, ink: tuple[int, int, int]) -> bytes:
    """RGBA PNG: the digit's strokes in colour `ink`, opacity from the MNIST value, on a fully
    transparent canvas (what a drawing app exports)."""
    alpha = Image.fromarray(np.asarray(pixels, np.uint8).reshape(28, 28)).resize((size, size),
                                                                               Image.Resampling.BILINEAR)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = ink
    rgba[..., 3] = np.asarray(alpha)
    return encode(Image.fromarray(rgba))


def png_claiming_size(width: int, height: int) -> bytes:
    """A small, valid-looking PNG whose header claims `width` x `height` (a decompression bomb's header)."""
    data = bytearray(encode(Image.new("L", (8, 8))))
    ihdr = 8 + 8  # signature, then length and type of the IHDR chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])))
    return bytes(data)
