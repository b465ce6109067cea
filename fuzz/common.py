"""What every harness shares: which modules atheris instruments, and the one exception a parser may
raise for bad input (the service answers it as a 4xx). Anything else escaping is a crash."""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris

INSTRUMENTED = ["service", "neuralnet"]  # our code; numpy, orjson and Pillow are not traced


def run(test_one_input: Callable[[bytes], None]) -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
