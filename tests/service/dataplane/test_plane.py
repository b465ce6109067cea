"""service.dataplane.plane: the one place every protocol calls. Answers as the routed version
computes them, counted in the statistics; errors pass through, counted as failures; the in-flight
limit; a canary's comparisons; nothing served before start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from service.config import Settings
from service.dataplane import offload
from service.dataplane.plane import DataPlane, Inference, ModelRef
from service.dataplane.statistics import model_statistics
from service.errors import ServiceError
from service.metrics import Metrics
from service.models.checks import example_digit
from service.models.manager import ModelManager
from service.models.served_state import Candidate, Served, write_state
from testkit.artifacts import shipped_copy

T = TypeVar("T")


def run(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable
    return asyncio.run(main())


@pytest.fixture
def plane(tmp_path: Path) -> DataPlane:
    """mnist-mlp v1 served and v2 (a noisy copy) as a 100 % canary: every unpinned request is
    answered by v2 and compared with v1."""
    weights = tmp_path / "weights"
    shipped_copy(weights, 1)
    shipped_copy(weights, 2, noise=0.3, seed=3)
    write_state(tmp_path / "serving.json", {"mnist-mlp": Served(1, Candidate(2, "canary", 100.0))})
    settings = Settings(weights_dir=weights, state_path=tmp_path / "serving.json", max_in_flight=2)
    plane = DataPlane(settings, Metrics())
    plane.manager = ModelManager(settings)
    plane.manager.start()
    return plane


def digits(pixels: np.ndarray, inference: Inference) -> tuple[int, list[int]]:
    return inference.model.version, inference.predictions.digits.tolist()


def stats(plane: DataPlane, version: str) -> dict[str, Any]:
    (entry,) = model_statistics(plane.metrics, [("mnist-mlp", version)])
    return entry


def test_the_named_version_answers_as_it_computes_and_is_counted(plane: DataPlane) -> None:
    pixels = np.vstack([example_digit()[0], np.zeros((1, 784), np.float32)])
    version, answered = run(plane.infer(ModelRef("mnist-mlp", "1"), lambda _: pixels, digits))
    expected = plane.registry.route("mnist-mlp", "1").model.predict(pixels).digits.tolist()
    assert (version, answered) == (1, expected)
    entry = stats(plane, "1")
    assert (entry["inference_count"], entry["execution_count"]) == (2, 1)
    for phase in ("success", "queue", "compute_input", "compute_infer", "compute_output"):
        assert entry["inference_stats"][phase]["count"] == 1, phase
    assert entry["inference_stats"]["success"]["ns"] >= entry["inference_stats"]["compute_infer"]["ns"] > 0
    assert entry["last_inference"] > 0


def test_work_in_the_thread_pool_answers_the_same_as_inline(plane: DataPlane) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (300, 784)).astype(np.float32)
    ref = ModelRef("mnist-mlp", "1")
    inline = run(plane.infer(ref, lambda _: pixels, digits))
    pooled = run(plane.infer(ref, lambda _: pixels, digits, offload.ALWAYS_POOLED))
    assert inline == pooled


def test_a_decode_error_passes_through_and_counts_as_a_failure(plane: DataPlane) -> None:
    def bad(_: object) -> np.ndarray:
        raise ServiceError(400, "images[0]: not an image")

    with pytest.raises(ServiceError, match=r"images\[0\]: not an image"):
        run(plane.infer(ModelRef("mnist-mlp", "1"), bad, digits))
    entry = stats(plane, "1")
    assert entry["inference_stats"]["fail"]["count"] == 1
    assert entry["inference_stats"]["success"]["count"] == 0 and entry["inference_count"] == 0


def test_unknown_models_and_versions_are_404_naming_what_is_loaded(plane: DataPlane) -> None:
    for ref, words in ((ModelRef("gamma"), "unknown model 'gamma'"),
                       (ModelRef("mnist-mlp", "7"), "loaded versions: 1 and 2")):
        with pytest.raises(ServiceError) as excinfo:
            run(plane.infer(ref, lambda _: np.zeros((1, 784), np.float32), digits))
        assert excinfo.value.status == 404 and words in excinfo.value.message
    assert plane.model_ready(ModelRef("mnist-mlp", "2")) and not plane.model_ready(ModelRef("gamma"))


def test_a_canary_answers_and_the_served_version_compares_off_the_response_path(plane: DataPlane) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (40, 784)).astype(np.float32)

    async def main() -> tuple[int, list[int]]:
        answered = await plane.infer(ModelRef(), lambda _: pixels, digits)
        await asyncio.gather(*plane.comparisons.pending)
        return answered

    version, _ = run(main())
    assert version == 2
    candidate = plane.registry.route("mnist-mlp", "2").model
    served = plane.registry.route("mnist-mlp", "1").model
    agreed = int(np.count_nonzero(candidate.predict(pixels).digits == served.predict(pixels).digits))
    assert (candidate.stats.compared, candidate.stats.agreed) == (40, agreed)


def test_the_in_flight_limit_is_shared_and_released(plane: DataPlane) -> None:
    assert plane.admit() and plane.admit()
    assert not plane.admit()
    busy = plane.overloaded()
    assert (busy.status, busy.code, busy.headers) == (503, "overloaded", {"Retry-After": "1"})
    plane.release()
    assert plane.admit()


def test_nothing_is_served_before_start_up(tmp_path: Path) -> None:
    plane = DataPlane(Settings(weights_dir=tmp_path), Metrics())
    assert not plane.ready()
    with pytest.raises(ServiceError) as excinfo:
        run(plane.infer(ModelRef(), lambda _: np.zeros((1, 784), np.float32), digits))
    assert (excinfo.value.status, excinfo.value.message) == (503, "no model is loaded yet")
