"""Image files to model input, the way MNIST was made (Pillow decodes, NumPy does the rest).

    bytes -> decoded (PNG or JPEG, size checked before any pixel is decoded) -> grayscale
    (transparency composited onto the background that contrasts with the ink) -> white ink on
    black (inverted when the border is light), background level removed -> cropped to the ink's
    bounding box -> longer side scaled to 20 px, aspect kept -> pasted into 28x28 so that the
    centre of mass sits at pixel (14, 14), as in MNIST.

Every failure is an ServiceError: 413 for too many bytes or pixels, 422 for a file that is not a PNG
or JPEG, a truncated or corrupt one, and a canvas with no digit on it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import ExifTags, Image

from neuralnet.preprocess import centred_by_mass, ink_box, light_on_dark, stretched
from service.errors import ServiceError

FORMATS = ("PNG", "JPEG")
WORKING_SIDE = 1024  # larger images are reduced to this first: plenty for a 20 px digit, bounded work
MIN_CONTRAST = 32.0  # ink must differ from the background by this much (of 255), else the canvas is empty
AMBIGUOUS_INK = 32.0  # visible pixels averaging within this of mid-grey are neither dark nor light ink
INK_FLOOR = 0.1  # of the ink's peak: fainter pixels (paper texture, JPEG noise) do not widen the crop
FILTER = Image.Resampling.LANCZOS
ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _error(status: int, code: str, message: str, loc: list[Any], kind: str) -> ServiceError:
    return ServiceError(status, f"{'.'.join(map(str, loc))}: {message}", [{"loc": loc, "msg": message,
                                                                        "type": kind}], code=code)


def decode(data: bytes, max_bytes: int, max_pixels: int, loc: list[Any]) -> Image.Image:
    """The decoded image, or ServiceError: empty, too many bytes or pixels, not PNG/JPEG, truncated."""
    if not data:
        raise _error(422, "empty_file", "the image file is empty", loc, "empty_file")
    if len(data) > max_bytes:
        raise _error(413, "image_too_large", f"the image is {len(data)} bytes, more than the limit of "
                     f"{max_bytes}", loc, "too_many_bytes")
    try:
        # Image.open reads only the header; Pillow itself refuses absurd sizes here (bomb check).
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise _error(413, "image_too_large", f"the image has more than {max_pixels} pixels", loc,
                     "too_many_pixels") from None
    except Exception:  # Pillow raises several types for bytes it cannot identify
        raise _error(422, "not_an_image", "not a PNG or JPEG image", loc, "not_an_image") from None
    width, height = image.size
    if width * height > max_pixels:
        raise _error(413, "image_too_large", f"the image is {width}x{height} = {width * height} pixels, "
                     f"more than the limit of {max_pixels}", loc, "too_many_pixels")
    if image.format == "JPEG":  # decode at a reduced scale when that still leaves enough pixels
        image.draft("L", (WORKING_SIDE, WORKING_SIDE))
    try:
        image.load()
    except Exception as exc:  # damaged data: decoders raise OSError, SyntaxError, ValueError, EOFError...
        if isinstance(exc, OSError) and "truncated" in str(exc):
            raise _error(422, "truncated_image", f"the {image.format} image is truncated", loc,
                         "truncated_image") from None
        raise _error(422, "corrupt_image", f"the {image.format} image is corrupt: {exc}", loc,
                     "corrupt_image") from None
    return image


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The transpose that undoes the EXIF Orientation tag, if any (read from the file as decoded:
    a reduced copy has lost it)."""
    try:  # a damaged EXIF block only costs the orientation
        return ORIENTATIONS.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:
        return None


def _reduced(image: Image.Image) -> Image.Image:
    """The decoded image box-reduced by a whole factor to at most WORKING_SIDE a side, in 8-bit
    modes, before any float copy: a 4096x4096 RGBA file then never costs more than its decoded
    64 MiB plus a 4 MiB copy."""
    if image.mode.startswith("I"):  # 16-bit grayscale PNG: its high byte is the 8-bit value
        high = np.asarray(image) >> 8
        image = Image.fromarray(high.astype(np.uint8))
    elif image.mode not in ("L", "LA", "RGB", "RGBA") or "transparency" in image.info:
        # palette indices, bits and a transparent colour cannot be averaged: converted at full size
        alpha = "transparency" in image.info or "A" in image.getbands()
        image = image.convert("LA" if alpha else "L")
    factor = -(-max(image.size) // WORKING_SIDE)
    return image.reduce(factor) if factor > 1 else image


def grayscale(image: Image.Image) -> np.ndarray:
    """(H, W) float32 0-255, at most WORKING_SIDE on a side, EXIF orientation applied.

    Transparent pixels take the background colour that contrasts with the visible ink: a dark
    digit drawn on a transparent canvas becomes dark on white, a light one light on black. When
    the visible pixels are neither clearly dark nor light (a digit with a wide anti-aliased edge),
    the transparent pixels keep their own colour, e.g. a palette PNG whose white is transparent.
    """
    transpose = _orientation(image)
    image = _reduced(image)
    if transpose is not None:
        image = image.transpose(transpose)
    has_alpha = "A" in image.getbands()
    image = image.convert("LA" if has_alpha else "L")
    pixels = np.asarray(image, np.float32)
    if not has_alpha:
        return pixels
    gray, alpha = pixels[..., 0], pixels[..., 1] / 255.0
    if alpha.min() == 1.0:
        return gray
    weight = float(alpha.sum())
    ink_level = float((gray * alpha).sum()) / weight if weight else 0.0
    hidden = alpha == 0
    if abs(ink_level - 127.5) < AMBIGUOUS_INK and hidden.any():
        background = 255.0 if float(gray[hidden].mean()) > 127.5 else 0.0
    else:
        background = 255.0 if ink_level < 127.5 else 0.0
    result: np.ndarray = gray * alpha + background * (1.0 - alpha)
    return result


def ink(gray: np.ndarray, loc: list[Any]) -> np.ndarray:
    """White ink on black, 0-255 float32: inverted if the border is light, background level removed."""
    gray, background, contrast = light_on_dark(gray)
    if contrast < MIN_CONTRAST:
        raise _error(422, "empty_image", "no digit found: the image is blank (no ink contrasting with "
                     "the background)", loc, "empty_image")
    return stretched(gray, background, contrast)


def mnist_frame(digit: np.ndarray) -> np.ndarray:
    """(28, 28) uint8: the ink's bounding box scaled to 20 px on its longer side, centred by mass."""
    crop, size = ink_box(digit, INK_FLOOR * 255)
    small = np.asarray(Image.fromarray(np.ascontiguousarray(crop, np.float32)).resize(size, FILTER))
    return centred_by_mass(np.clip(small, 0.0, 255.0))  # Lanczos overshoots a little at edges


def mnist_input(data: bytes, max_bytes: int, max_pixels: int, loc: list[Any]) -> np.ndarray:
    """The (28, 28) uint8 image, white digit on black, that the model gets for this image file."""
    return mnist_frame(ink(grayscale(decode(data, max_bytes, max_pixels, loc)), loc))


@dataclass(frozen=True)
class MnistImage:
    """An uploaded image as the model gets it: `frame`, (28, 28) uint8, and `images`, (1, 784) pixels."""

    frame: np.ndarray
    images: np.ndarray


def mnist_image(data: bytes, max_bytes: int, max_pixels: int, loc: list[Any]) -> MnistImage:
    frame = mnist_input(data, max_bytes, max_pixels, loc)
    return MnistImage(frame, frame.reshape(1, -1).astype(np.float32))
