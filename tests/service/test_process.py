"""Per-process set-up: with the allocator's thresholds fixed, a request's large buffers are reused
instead of being faulted in again on every call."""

from __future__ import annotations

import subprocess
import sys

import pytest

from testkit.server import REPO_ROOT

FAULTS = """
import resource, sys
import numpy as np, orjson
from service.codecs.v1.parser import parse_batch
from service.process import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator()
images = np.random.default_rng(0).integers(0, 256, (256, 28, 28))
body = orjson.dumps({"images": images.tolist()})
parse_batch(body, "application/json", 1024)  # first touch, not counted
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):  # what a batch request does: buffers of 0.1-4 MB allocated, filled, freed
    parse_batch(body, "application/json", 1024)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", FAULTS, mode], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    return int(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_allocator_reuses_large_buffers() -> None:
    untuned, tuned = page_faults("default"), page_faults("tuned")
    assert untuned > 10 * 500  # its buffers faulted in again on every call
    assert tuned < untuned / 10, (tuned, untuned)
