"""What each serving process sets up for itself before it serves: BLAS threads and the allocator.

Both are per process, so every uvicorn worker applies them (the app's lifespan calls `prepare`).

The allocator: a request allocates and frees NumPy buffers of 0.1-15 MB (a parsed batch, an im2col
patch matrix). glibc's malloc hands buffers above its mmap threshold (128 KB at first, raised as it
sees large frees) straight to the kernel and gives free heap memory back above its trim threshold,
so the same request faults its buffers in again every time: measured here, parsing 256 images
took 3.8 ms with ~1,800 page faults, 1.5 ms with the thresholds fixed. The values are a measured
compromise (in-process CNN forward of 256 images, and benchmarks/bench_worst_case.py's peak with
16 of the largest requests at once): default glibc 4,477 img/s; 4 MB / 16 MB 3,150-3,961 img/s,
387 MiB; 8 MB / 16 MB 4,863 img/s, 452 MiB; 16 MB / 32 MB 4,691-4,986 img/s, 505 MiB; a trim
threshold of 4-8 MB halves the CNN's speed. Larger buffers go back to the kernel at once, at most
16 MB of free heap is kept per arena, and the arenas are capped. Elsewhere than glibc nothing is
changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

from threadpoolctl import threadpool_limits

log = logging.getLogger("service")

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD_BYTES = 8 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 16 * 1024 * 1024
ARENA_MAX = 4


def tune_allocator() -> bool:
    """Fix glibc malloc's thresholds (see the module docstring); False where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return all(mallopt(param, value) == 1 for param, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        (M_ARENA_MAX, ARENA_MAX)))


def prepare(blas_threads: int) -> None:
    """BLAS threads for the forward pass, and the allocator's thresholds, for this process."""
    threadpool_limits(limits=blas_threads, user_api="blas")  # holds until the process ends
    if not tune_allocator():
        log.info("allocator thresholds left as they are (no glibc mallopt)")


def freeze_start_up_objects() -> None:
    """Once start-up has built the app and loaded the models: what exists then lives as long as
    the app, so the cyclic collector stops scanning it (gc.freeze). Its full collections under
    load then look at the requests' objects only, instead of pausing the worker (the tail latency
    of every request in flight) to walk the many that FastAPI, pydantic and NumPy made at import."""
    gc.collect()
    gc.freeze()


def unfreeze_objects() -> None:
    """At the app's shutdown: what was frozen is the collector's again (an app built and stopped
    within a process, as in tests, is then freed)."""
    gc.unfreeze()
