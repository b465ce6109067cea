"""Prometheus metrics (prometheus-client), one registry per app.

With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR (`mnist-serve` does it for
--workers > 1) so /metrics, and the statistics the data plane reports from these counters,
aggregate all worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# A `_created` series beside every counter and histogram doubles the series for no question an
# operator asks; OpenMetrics scrapes still get the families they need.
disable_created_metrics()

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
# Health probes and scrapes: not counted as traffic, and never refused for overload (middleware.py)
NOT_TRAFFIC = ("/health/", "/metrics", "/v2/health/")
# HTTP methods as metric labels: a fixed set, so invented methods cannot grow the series without end
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# The phases of one inference, as Triton's statistics extension names them
PHASES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")
Loaded = Callable[[], Iterable[tuple[str, int, str]]]  # (name, version, role) of each loaded version


class ModelInfo(Collector):
    """`mnist_model_info`, from what this worker serves at scrape time: a version no longer loaded
    has no series (every worker follows the same record, so any one of them answers for all)."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("mnist_model_info", "Loaded versions by role.",
                                   labels=["name", "version", "role"])
        for name, version, role in self.loaded():
            family.add_metric([name, str(version), role], 1)
        yield family


class Metrics:
    def __init__(self, loaded: Loaded = lambda: ()) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.info = ModelInfo(loaded)
        r.register(self.info)
        self.requests = Counter("mnist_requests", "Requests by protocol, route, method and status.",
                                ["protocol", "route", "method", "status"], registry=r)
        self.latency = Histogram("mnist_request_duration_seconds",
                                 "Request latency by protocol, route, method and status.",
                                 ["protocol", "route", "method", "status"], buckets=LATENCY_BUCKETS,
                                 registry=r)
        self.images = Counter("mnist_images_predicted", "Images run through the model.", registry=r)
        self.batch_size = Histogram("mnist_batch_size", "Images per prediction request.",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.digits = Counter("mnist_predictions", "Predictions by predicted digit.", ["digit"], registry=r)
        self.not_digits = Counter("mnist_not_a_digit_images", "Images the model's decision answered as not "
                                  "a digit (of mnist_images_predicted; models without one count none).",
                                  registry=r)
        self.version_requests = Histogram("mnist_model_forward_seconds", "Forward-pass time of the requests "
                                          "each loaded version answered.", ["model", "version"],
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.compared = Counter("mnist_candidate_compared_images", "Images a rollout candidate and the "
                                "served version both computed.", ["model", "version"], registry=r)
        self.agreed = Counter("mnist_candidate_agreed_images", "Of those, images both gave the same digit "
                              "(agreement = agreed / compared).", ["model", "version"], registry=r)
        # Triton's statistics extension, read back by the data plane (service/dataplane/statistics.py)
        self.phase_count = Counter("mnist_inference_phase", "Inference requests per version that ended "
                                   "in each phase: success (each went through queue, compute_input, "
                                   "compute_infer and compute_output) or fail.",
                                   ["model", "version", "phase"], registry=r)
        self.phase_seconds = Counter("mnist_inference_phase_seconds", "Cumulative time per version and "
                                     "phase.", ["model", "version", "phase"], registry=r)
        self.inferences = Counter("mnist_model_inferences", "Images each version computed.",
                                  ["model", "version"], registry=r)
        self.executions = Counter("mnist_model_executions", "Forward passes each version ran (a batch "
                                  "is one).", ["model", "version"], registry=r)
        self.batch_images = Histogram("mnist_batcher_batch_size", "Images per forward pass the batcher "
                                      "ran, by version.", ["model", "version"], buckets=BATCH_BUCKETS,
                                      registry=r)
        self.batch_wait = Histogram("mnist_batcher_wait_seconds", "Time a request waited in the batcher "
                                    "before its batch started.", ["model", "version"],
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.last_inference = Gauge("mnist_model_last_inference_timestamp_seconds", "When each version "
                                    "last answered.", ["model", "version"], registry=r,
                                    multiprocess_mode="max")
        # labelled children, looked up once: `labels()` costs more than the update itself
        self._request_series: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}
        self._version_series: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._batch_series: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._digit_series = [self.digits.labels(str(d)) for d in range(10)]

    def observe_request(self, route: str, method: str, status: int, seconds: float,
                        protocol: str = "rest") -> None:
        if route.startswith(NOT_TRAFFIC):
            return
        method = method if method in METHODS else "OTHER"
        key = (protocol, route, method, status)
        series = self._request_series.get(key)
        if series is None:  # bounded: routes are templates or `unmatched`, methods a fixed set
            labels = (protocol, route, method, str(status))
            series = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._request_series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def observe_predictions(self, digits: np.ndarray, is_digit: np.ndarray | None = None) -> None:
        self.images.inc(len(digits))
        self.batch_size.observe(len(digits))
        if len(digits) == 1:
            self._digit_series[int(digits[0])].inc()
            if is_digit is not None and not is_digit[0]:
                self.not_digits.inc()
            return
        if is_digit is not None and not is_digit.all():
            self.not_digits.inc(len(is_digit) - int(np.count_nonzero(is_digit)))
        for digit, count in enumerate(np.bincount(digits, minlength=10).tolist()):
            if count:
                self._digit_series[digit].inc(count)

    def _version(self, name: str, version: int) -> tuple[Any, ...]:
        series = self._version_series.get((name, version))
        if series is None:  # bounded: versions loaded
            v = str(version)
            series = (self.version_requests.labels(name, v), self.inferences.labels(name, v),
                      self.executions.labels(name, v), self.last_inference.labels(name, v),
                      self.phase_count.labels(name, v, "success"), self.phase_count.labels(name, v, "fail"),
                      *(self.phase_seconds.labels(name, v, p) for p in PHASES))
            self._version_series[(name, version)] = series
        return series

    def observe_inference(self, name: str, version: int, images: int, phases: dict[str, float],
                          now: float, executions: int = 1) -> None:
        """One request a version answered (or failed: phases has `fail`), with its phases' seconds;
        `executions`: the forward passes it ran itself (0 when the batcher counts them)."""
        series = self._version(name, version)
        if "compute_infer" in phases:
            series[0].observe(phases["compute_infer"])
            series[1].inc(images)
            if executions:
                series[2].inc(executions)
        series[3].set(now)
        series[5 if "fail" in phases else 4].inc()  # the other phases' counts are the successes'
        for i, phase in enumerate(PHASES):
            seconds = phases.get(phase)
            if seconds:  # absent, or none spent (an inline request's queue)
                series[6 + i].inc(seconds)

    def observe_batch(self, name: str, version: int, images: int, waited: list[float]) -> None:
        """One forward pass of the batcher: its images, and how long each request in it waited."""
        self._version(name, version)[2].inc()
        series = self._batch_series.get((name, version))
        if series is None:  # bounded: versions loaded
            v = str(version)
            series = (self.batch_images.labels(name, v), self.batch_wait.labels(name, v))
            self._batch_series[(name, version)] = series
        sizes, wait = series
        sizes.observe(images)
        for seconds in waited:
            wait.observe(seconds)

    def observe_comparison(self, name: str, version: int, compared: int, agreed: int) -> None:
        self.compared.labels(name, str(version)).inc(compared)
        self.agreed.labels(name, str(version)).inc(agreed)

    def collected(self) -> CollectorRegistry:
        """What a scrape reads: this process's registry, or every worker's files in multi-process
        mode (with this worker's view of the loaded versions)."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(self.info)
        return registry

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """(body, content type): Prometheus text, or OpenMetrics when the scraper asks for it."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.collected()), content_type
