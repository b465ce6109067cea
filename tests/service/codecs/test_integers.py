"""Small integers read straight from JSON bytes: the same numbers JSON would give, or None."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from service.codecs.integers import only_digits_and_commas, small_uints


def test_random_runs_read_as_json_reads_them() -> None:
    rng = np.random.default_rng(0)
    for size in (1, 2, 3, 50, 5000):
        values = rng.integers(0, 1000, size)
        text = orjson.dumps(values.tolist())[1:-1]
        got = small_uints(text)
        assert got is not None and got.tolist() == values.tolist()


@pytest.mark.parametrize("text", [b"", b",1", b"1,", b"1,,2", b"1234", b"0,9999", b"01", b"1,00",
                                  b"7,099"])
def test_what_json_would_not_read_as_small_integers_is_none(text: bytes) -> None:
    assert small_uints(text) is None


def test_only_digits_and_commas() -> None:
    assert only_digits_and_commas(b"1,22,333")
    assert not any(only_digits_and_commas(t) for t in (b"1.5", b"1,-2", b"1, 2", b"[1]", b"true"))
