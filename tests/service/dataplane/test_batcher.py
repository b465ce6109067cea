"""Adaptive batching through the data plane, in process: concurrent requests for a version are
answered from shared forward passes, each bit for bit as it would be alone; a canary's versions
never share a batch; a bad request fails alone; a client that has gone is dropped; explanations
are never batched."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuralnet.artifact import load_artifact
from neuralnet.inference import InferenceModel
from service.config import Settings
from service.dataplane.batcher import ClientGone
from service.dataplane.plane import CONV_BATCH_SIZE, DataPlane, Inference, ModelRef
from service.errors import ServiceError
from service.metrics import Metrics
from service.models.manager import ModelManager
from service.models.served_state import Candidate, Served, write_state
from testkit.shipped import newest_shipped, shipped_weights

RNG = np.random.default_rng(5)


def make_plane(tmp_path: Path, state: dict[str, Served], **settings: Any) -> DataPlane:
    weights = tmp_path / "weights"
    weights.symlink_to(shipped_weights(), target_is_directory=True)
    write_state(tmp_path / "serving.json", state)
    config = Settings(weights_dir=weights, state_path=tmp_path / "serving.json", model="mnist-cnn",
                      **settings)
    plane = DataPlane(config, Metrics())
    plane.manager = ModelManager(config)
    plane.manager.start()
    return plane


def answer(pixels: np.ndarray, inference: Inference) -> tuple[int, np.ndarray]:
    return inference.model.version, inference.predictions.proba


def concurrently(*calls: Callable[[], Coroutine[Any, Any, Any]]) -> list[Any]:
    async def main() -> list[Any]:
        return await asyncio.gather(*(call() for call in calls), return_exceptions=True)
    return asyncio.run(main())


def batch_sizes(plane: DataPlane, version: int) -> tuple[float, float]:
    """(forward passes, images) the batcher ran for this CNN version."""
    samples = {s.name: s.value for family in plane.metrics.registry.collect() for s in family.samples
               if s.labels.get("model") == "mnist-cnn" and s.labels.get("version") == str(version)}
    count, images = "mnist_batcher_batch_size_count", "mnist_batcher_batch_size_sum"
    return samples.get(count, 0.0), samples.get(images, 0.0)


@pytest.mark.parametrize("threads", [1, 2])
def test_concurrent_requests_share_forward_passes_and_answer_bit_for_bit(tmp_path: Path,
                                                                        threads: int) -> None:
    # batches of up to 64 images: several conv chunks, side by side with 2 batch threads
    plane = make_plane(tmp_path, {"mnist-cnn": Served(2)}, batch_threads=threads)
    images = [RNG.integers(0, 256, (int(n), 784)).astype(np.float32) for n in RNG.integers(1, 4, 40)]
    answers = concurrently(*(lambda x=x: plane.infer(ModelRef(), lambda _: x, answer) for x in images))
    model = plane.registry.route("mnist-cnn", "2").model
    batcher = plane.batcher(model)
    assert batcher is not None and batcher.threads == threads
    for x, (version, proba) in zip(images, answers, strict=True):
        assert version == 2
        assert np.array_equal(proba, model.predict(x).proba)  # bit for bit, as alone
    passes, counted = batch_sizes(plane, 2)
    assert counted == sum(len(x) for x in images) and passes < len(images)  # batched


def test_batch_threads_default_to_the_workers_share_of_the_cores(tmp_path: Path) -> None:
    def threads(name: str, **settings: Any) -> int:
        (tmp_path / name).mkdir()
        plane = make_plane(tmp_path / name, {"mnist-cnn": Served(2)}, **settings)
        batcher = plane.batcher(plane.registry.route("mnist-cnn", "2").model)
        assert batcher is not None
        return batcher.threads

    cores = len(os.sched_getaffinity(0))
    assert threads("one worker", workers=1) == cores
    assert threads("a worker per core", workers=cores) == 1
    assert threads("more workers than cores", workers=4 * cores) == 1
    assert threads("set", workers=cores, batch_threads=3) == 3  # MNIST_BATCH_THREADS over the default


def test_a_canarys_versions_are_never_batched_together(tmp_path: Path) -> None:
    plane = make_plane(tmp_path, {"mnist-cnn": Served(1, Candidate(2, "canary", 50.0))})
    plane.registry.random.seed(3)
    images = [RNG.integers(0, 256, (1, 784)).astype(np.float32) for _ in range(60)]
    answers = concurrently(*(lambda x=x: plane.infer(ModelRef(), lambda _: x, answer) for x in images))
    served = {v: plane.registry.route("mnist-cnn", str(v)).model for v in (1, 2)}
    for x, (version, proba) in zip(images, answers, strict=True):
        assert np.array_equal(proba, served[version].predict(x).proba)
    for version in (1, 2):  # each version's batcher computed exactly its own requests' images
        assert batch_sizes(plane, version)[1] == sum(1 for v, _ in answers if v == version) > 0


def test_a_bad_request_fails_alone(tmp_path: Path) -> None:
    plane = make_plane(tmp_path, {"mnist-cnn": Served(2)})

    def bad(_: object) -> np.ndarray:
        raise ServiceError(422, "pixels[3][5]: 300 is outside 0-255")

    good = RNG.integers(0, 256, (1, 784)).astype(np.float32)
    calls = [lambda: plane.infer(ModelRef(), lambda _: good, answer) for _ in range(8)]
    calls.insert(4, lambda: plane.infer(ModelRef(), bad, answer))
    results = concurrently(*calls)
    assert isinstance(results[4], ServiceError) and results[4].status == 422
    assert all(isinstance(r, tuple) and r[0] == 2 for i, r in enumerate(results) if i != 4)


def test_a_client_that_has_gone_is_dropped_from_its_batch(tmp_path: Path) -> None:
    # the requests wait for their batch (as behind a running one): only then is a client asked
    plane = make_plane(tmp_path, {"mnist-cnn": Served(2)}, batch_max_delay_ms=5)
    x = RNG.integers(0, 256, (1, 784)).astype(np.float32)

    async def gone() -> bool:
        return True

    async def here() -> bool:
        return False

    results = concurrently(*(lambda g=g: plane.infer(ModelRef(), lambda _: x, answer, gone=g)
                             for g in (here, gone, gone, here)))
    assert [type(r) for r in results] == [tuple, ClientGone, ClientGone, tuple]
    assert batch_sizes(plane, 2)[1] == 2  # only the two still there were computed


def test_explanations_are_never_batched(tmp_path: Path) -> None:
    plane = make_plane(tmp_path, {"mnist-cnn": Served(2)})
    x = RNG.integers(0, 256, (1, 784)).astype(np.float32)
    calls: list[Callable[[], Coroutine[Any, Any, Any]]] = [
        lambda: plane.explain(ModelRef(), lambda _: x, 32, lambda d, i, e: e.steps) for _ in range(3)]
    calls += [lambda: plane.infer(ModelRef(), lambda _: x, answer) for _ in range(5)]
    results = concurrently(*calls)
    assert results[:3] == [32, 32, 32]
    assert batch_sizes(plane, 2)[1] == 5  # the predictions' images only


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, {"mnist-cnn": 64, "mnist-mlp": 1}),  # by default: on for the CNN, off for the MLP
    ({"batch_max_size": 8}, {"mnist-cnn": 8, "mnist-mlp": 8}),
    ({"batch_max_size": 8, "batching": {"mnist-mlp": 1}}, {"mnist-cnn": 8, "mnist-mlp": 1}),
])
def test_batch_sizes_per_model(tmp_path: Path, settings: dict[str, Any], expected: dict[str, int]) -> None:
    plane = make_plane(tmp_path, {"mnist-cnn": Served(2), "mnist-mlp": Served(3)}, **settings)
    for name, size in expected.items():
        model = plane.registry.route(name).model
        assert plane.batch_size(model) == size
        assert (plane.batcher(model) is None) == (size == 1)


@pytest.mark.parametrize(("settings", "expected"), [({}, 1), ({"batch_max_size": 8}, 8)])
def test_a_blas_that_would_change_batched_answers_turns_default_batching_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        settings: dict[str, Any], expected: int) -> None:
    # as on a machine whose OPENBLAS_CORETYPE forces a kernel that sums a row by its place in a batch
    monkeypatch.setattr(InferenceModel, "batches_alike", lambda self: False)
    plane = make_plane(tmp_path, {"mnist-cnn": Served(2)}, **settings)
    with caplog.at_level(logging.WARNING, logger="service"):
        assert plane.batch_size(plane.registry.route("mnist-cnn").model) == expected
    assert ("batching off" in caplog.text) == (expected == 1)  # said only when the default is overruled


def test_the_shipped_cnn_is_exact_in_batches_on_this_blas() -> None:
    """The probe agrees with what it stands for: where it says batching is exact, an image's logits
    are the same bits alone as in batches of every size up to the batcher's."""
    artifact = shipped_weights() / "mnist-cnn" / f"{newest_shipped('mnist-cnn')}.npz"
    model = InferenceModel.from_artifact(load_artifact(artifact))
    assert model.batches_alike()  # `make test` runs on the kernel NumPy picks (see the Makefile)
    images = RNG.integers(0, 256, (CONV_BATCH_SIZE, 784)).astype(np.float32)
    alone = np.concatenate([model.logits(images[i:i + 1]) for i in range(len(images))])
    for size in (2, 3, 7, 16, 17, 40, CONV_BATCH_SIZE):
        assert np.array_equal(model.logits(images[:size]), alone[:size]), size
