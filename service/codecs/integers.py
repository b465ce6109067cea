"""Comma-separated small integers, straight from the bytes of a JSON body, with NumPy.

A batch of pixels as JSON is mostly `12,0,255,...`: parsing it into Python lists and then into an
array costs far more than the forward pass. `small_uints` reads such a run in a few whole-array
passes: the commas give each number's start and length, and its digits d1 d2 d3 (last first; the
text is padded so they always exist) give

    value = d1 + 10 * d2 * [length >= 2] + 100 * first digit * [length = 3]

It accepts only what JSON would read as the same numbers: 1 to 3 digits each, no leading zero, no
empty item; anything else returns None, and the caller takes its exact (slower) path.
"""

from __future__ import annotations

import numpy as np

_COMMA, _ZERO = ord(","), ord("0")
_DIGITS_AND_COMMAS = b"0123456789,"


def only_digits_and_commas(text: bytes) -> bool:
    return not text.translate(None, _DIGITS_AND_COMMAS)


def small_uints(text: bytes) -> np.ndarray | None:
    """`text` of digits and commas (the caller checks) as uint16 values 0-999, or None."""
    # three commas before (so the three characters before any number's end exist) and one after
    a = np.frombuffer(b",,," + text + b",", np.uint8)
    commas = np.flatnonzero(a == _COMMA)[2:]  # the last padding comma, each separator, the end
    starts, ends = commas[:-1] + 1, commas[1:]
    length = ends - starts
    if length.min() < 1 or length.max() > 3:  # an empty item, or four digits or more
        return None
    d = a - np.uint8(_ZERO)  # digits become 0-9
    first = d[starts]
    if ((length > 1) & (first == 0)).any():  # a leading zero
        return None
    values = d[ends - 1].astype(np.uint16)
    values += d[ends - 2] * (length >= 2).astype(np.uint16) * np.uint16(10)
    values += first * (length == 3).astype(np.uint16) * np.uint16(100)
    return values
