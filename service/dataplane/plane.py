"""The data plane: the one place every protocol calls to answer a request.

    infer(ref, decode, encode)    route -> decode -> forward pass -> encode, each step on the event
                                  loop or in the thread pool by its expected cost (offload.py); the
                                  version that answered counted in the metrics and statistics; a
                                  rollout's comparison scheduled off the response path
    explain(ref, decode, encode)  the same with integrated gradients, always in the thread pool
    admit() / release()           the in-flight limit, shared by every protocol

A protocol layer only decodes with its codec, calls these, and encodes: routing (the default
model, a named model or version, a canary's share, a shadow), offloading, metrics and the limit
behave the same whichever protocol a request came by. Every failure is a ServiceError.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from anyio import CapacityLimiter

from service.config import Settings
from service.dataplane import offload
from service.dataplane.batcher import Batcher, Gone, batch_threads
from service.dataplane.comparisons import Comparisons
from service.errors import ServiceError
from service.metrics import Metrics
from service.models.explain import Explanation, integrated_gradients
from service.models.loaded_model import LoadedModel, Predictions
from service.models.manager import ModelManager
from service.models.registry import NotServed, Registry, Route

# The batcher's most images for a network with conv layers, unless configured: there a forward pass
# of many images costs much less per image than one at a time (benchmarks/README.md)
CONV_BATCH_SIZE = 64
log = logging.getLogger("service")
D = TypeVar("D")  # what a protocol's codec decoded: (N, 784) pixels, or an object with `.images`
R = TypeVar("R")  # what its encoder made of the answer


@dataclass(frozen=True)
class ModelRef:
    """Which model a request asks for: None for the default model, and for the served version (a
    rollout's share then decides)."""

    name: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class Inference:
    model: LoadedModel  # the version that answered
    predictions: Predictions


def images_of(decoded: Any) -> np.ndarray:
    return decoded if isinstance(decoded, np.ndarray) else decoded.images


class DataPlane:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.manager: ModelManager | None = None  # set once start-up has loaded the models
        self.work_limiter = CapacityLimiter(settings.work_threads)
        self.comparisons = Comparisons(self.work_limiter, metrics)
        self.max_in_flight, self.in_flight = settings.max_in_flight, 0  # the loop's own count
        self.batchers: dict[tuple[str, int], tuple[LoadedModel, Batcher | None]] = {}

    # ---- admission: requests worked on at once, whatever their protocol

    def admit(self) -> bool:
        """Take an in-flight slot; False when all are taken (the caller answers 503 at once)."""
        if self.in_flight >= self.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1

    def overloaded(self) -> ServiceError:
        return ServiceError(503, f"the server is busy ({self.max_in_flight} requests in flight); retry "
                            "in a second", code="overloaded", headers={"Retry-After": "1"})

    # ---- what is served

    def models(self) -> ModelManager:
        """The worker's models, once start-up loaded the default model; 503 before."""
        manager = self.manager
        if manager is None or manager.registry.default is None:
            raise ServiceError(503, "no model is loaded yet")
        return manager

    @property
    def registry(self) -> Registry:
        return self.models().registry

    def ready(self) -> bool:
        manager = self.manager
        return manager is not None and manager.registry.default_model() is not None

    def route(self, ref: ModelRef) -> Route:
        """The version that answers `ref` (404 if it is not loaded)."""
        try:
            return self.registry.route(ref.name, ref.version)
        except NotServed as exc:
            raise ServiceError(404, str(exc)) from None

    def model(self, ref: ModelRef) -> LoadedModel:
        """The version named, else the served one, never a rollout's choice: to describe a model."""
        try:
            return self.registry.pick(ref.name, ref.version)
        except NotServed as exc:
            raise ServiceError(404, str(exc)) from None

    def versions(self, name: str) -> list[LoadedModel]:
        self.route(ModelRef(name))  # 404 unless loaded
        return self.registry.deployments[name].versions()

    def loaded_versions(self) -> list[tuple[str, int, str]]:
        """(name, version, role) of every loaded version: `served` or `candidate`."""
        manager = self.manager
        deployments = manager.registry.deployments if manager is not None else {}
        return [(m.name, m.version, "candidate" if m is d.candidate else "served")
                for d in deployments.values() for m in d.versions()]

    def model_ready(self, ref: ModelRef) -> bool:
        try:
            self.route(ref)
        except ServiceError:
            return False
        return True

    def batch_size(self, model: LoadedModel) -> int:
        """The batcher's most images for this version (1: it is not batched)."""
        size = self.settings.batching.get(model.name, self.settings.batch_max_size)
        if size is None:  # by default a conv network's, where this BLAS keeps batched answers exact
            size = CONV_BATCH_SIZE if model.inference.chunk_images and self._batches_alike(model) else 1
        return size

    @staticmethod
    def _batches_alike(model: LoadedModel) -> bool:
        if model.inference.batches_alike():
            return True
        log.warning("batching off: this BLAS computes an image's logits with different last bits in a "
                    "batch than alone, so batched answers would not be exactly the unbatched ones (is "
                    "OPENBLAS_CORETYPE forcing a kernel?); MNIST_BATCH_MAX_SIZE turns it on regardless",
                    extra={"model": model.ident})
        return False

    def batcher(self, model: LoadedModel) -> Batcher | None:
        """This version's batcher, or None when it is not batched."""
        found = self.batchers.get((model.name, model.version))
        if found is not None and found[0] is model:
            return found[1]
        batcher = None
        size = self.batch_size(model)
        if size > 1:
            batcher = Batcher(model, size, self.settings.batch_max_delay_ms / 1000, self.work_limiter,
                              self.metrics, batch_threads(self.settings.batch_threads, self.settings.workers))
        self.batchers[(model.name, model.version)] = (model, batcher)
        return batcher

    # ---- answering

    async def infer(self, ref: ModelRef, decode: Callable[[LoadedModel], D],
                    encode: Callable[[D, Inference], R], decode_seconds: float = 0.0,
                    gone: Gone | None = None) -> R:
        """decode(model) -> forward pass -> encode(decoded, inference), by the version `ref` routes
        to. `decode_seconds`: its expected cost (float('inf') for image decoding: always pooled);
        `gone`: whether the client hung up (a batched request is then dropped: ClientGone)."""
        route = self.route(ref)
        model = route.model
        batcher = self.batcher(model)
        # Decoding that goes to the thread pool (image files, very large bodies) shares its one hop
        # with the forward pass instead: a hop apart would let every such request hold its decoded
        # images while it waits for the forward pass, past what the work threads bound
        if batcher is not None and decode_seconds <= offload.PARSE_INLINE_SECONDS:
            return await self._batched(route, batcher, decode, encode, gone)
        phases: dict[str, float] = {}
        started = time.perf_counter()

        def answer(decoded: D, decoded_at: float) -> tuple[R, np.ndarray, Predictions]:
            pixels = images_of(decoded)
            predictions = model.predict(pixels)
            computed_at = time.perf_counter()
            result = encode(decoded, Inference(model, predictions))
            phases["compute_infer"] = computed_at - decoded_at
            phases["compute_output"] = time.perf_counter() - computed_at
            return result, pixels, predictions

        def pooled(queued_at: float, decoded: Any = None) -> tuple[R, np.ndarray, Predictions]:
            at = time.perf_counter()
            phases["queue"] = at - queued_at
            if decoded is None:
                decoded = decode(model)
                phases["compute_input"] = time.perf_counter() - at
            return answer(decoded, time.perf_counter())

        try:
            if decode_seconds > offload.PARSE_INLINE_SECONDS:
                done = await offload.in_pool(self.work_limiter, lambda: pooled(time.perf_counter()))
            else:
                decoded = decode(model)
                decoded_at = time.perf_counter()
                phases["compute_input"] = decoded_at - started
                if model.forward_seconds(len(images_of(decoded))) <= offload.INLINE_SECONDS:
                    done = answer(decoded, decoded_at)
                else:
                    queued_at = time.perf_counter()
                    done = await offload.in_pool(self.work_limiter, lambda: pooled(queued_at, decoded))
        except ServiceError:
            self._failed(model, phases, started)
            raise
        result, pixels, predictions = done
        phases.setdefault("queue", 0.0)  # inline: no wait
        phases["success"] = time.perf_counter() - started
        self._count(model, predictions, phases)
        self.comparisons.schedule(route, pixels, predictions.digits)
        return result

    async def _batched(self, route: Route, batcher: Batcher, decode: Callable[[LoadedModel], D],
                       encode: Callable[[D, Inference], R], gone: Gone | None) -> R:
        """infer, with the forward pass the batcher's: decoded inline, then queued with the other
        requests for this version."""
        model = route.model
        phases: dict[str, float] = {}
        started = time.perf_counter()
        try:
            decoded = decode(model)
        except ServiceError:
            self._failed(model, phases, started)
            raise
        pixels = images_of(decoded)
        phases["compute_input"] = time.perf_counter() - started
        executions = 0
        if len(pixels) >= batcher.max_size:  # a batch already: run as it is
            executions = 1
            seconds = model.forward_seconds(len(pixels))
            queued_at = time.perf_counter()
            predictions = await offload.run(self.work_limiter, seconds, lambda: model.predict(pixels))
            phases["queue"], phases["compute_infer"] = 0.0, time.perf_counter() - queued_at
        else:
            predictions, phases["queue"], phases["compute_infer"] = await batcher.predict(pixels, gone)
        computed_at = time.perf_counter()
        result = encode(decoded, Inference(model, predictions))
        phases["compute_output"] = time.perf_counter() - computed_at
        phases["success"] = time.perf_counter() - started
        self._count(model, predictions, phases, executions)
        self.comparisons.schedule(route, pixels, predictions.digits)
        return result

    async def explain(self, ref: ModelRef, decode: Callable[[LoadedModel], D], steps: int | None,
                      encode: Callable[[D, Inference, Explanation], R]) -> R:
        """The prediction for one image and its integrated-gradients saliency (never combined with
        other requests' work), in the thread pool."""
        route = self.route(ref)
        model = route.model

        def work() -> tuple[R, Predictions, dict[str, float]]:
            started = time.perf_counter()
            decoded = decode(model)
            pixels = images_of(decoded)
            decoded_at = time.perf_counter()
            predictions = model.predict(pixels)
            found = integrated_gradients(model.inference, pixels[0], int(predictions.digits[0]), steps)
            computed_at = time.perf_counter()
            result = encode(decoded, Inference(model, predictions), found)
            return result, predictions, {"compute_input": decoded_at - started,
                                         "compute_infer": computed_at - decoded_at,
                                         "compute_output": time.perf_counter() - computed_at}

        queued_at = time.perf_counter()
        result, predictions, phases = await offload.in_pool(self.work_limiter, work)
        phases["success"] = time.perf_counter() - queued_at
        phases["queue"] = phases["success"] - sum(phases[p] for p in ("compute_input", "compute_infer",
                                                                      "compute_output"))
        self._count(model, predictions, phases)
        return result

    def _failed(self, model: LoadedModel, phases: dict[str, float], started: float) -> None:
        phases["fail"] = time.perf_counter() - started
        self.metrics.observe_inference(model.name, model.version, 0, phases, time.time())

    def _count(self, model: LoadedModel, predictions: Predictions, phases: dict[str, float],
               executions: int = 1) -> None:
        stats = model.stats
        stats.requests += 1
        stats.seconds += phases["compute_infer"]
        self.metrics.observe_predictions(predictions.digits, predictions.is_digit)
        self.metrics.observe_inference(model.name, model.version, len(predictions.digits), phases,
                                       time.time(), executions)
