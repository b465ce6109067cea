"""Prometheus metrics (prometheus-client), one registry per app.

With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR (`mnist-serve` does it for
--workers > 1) so /metrics aggregates all worker processes.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
# Health probes and scrapes: not counted as traffic, and never refused for overload (middleware.py)
NOT_TRAFFIC = ("/health/", "/metrics", "/v2/health/")
# HTTP methods as metric labels: a fixed set, so invented methods cannot grow the series without end
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("mnist_http_requests", "HTTP requests by route, method and status.",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("mnist_http_request_duration_seconds",
                                 "Request latency by route, method and status.",
                                 ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.images = Counter("mnist_images_predicted", "Images run through the model.", registry=r)
        self.batch_size = Histogram("mnist_batch_size", "Images per prediction request.",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.digits = Counter("mnist_predictions", "Predictions by predicted digit.", ["digit"], registry=r)
        self.not_digits = Counter("mnist_not_a_digit_images", "Images the model's decision answered as not "
                                  "a digit (of mnist_images_predicted; models without one count none).",
                                  registry=r)
        self.model_info = Gauge("mnist_model_info", "Loaded versions by role (1 loaded, 0 no longer).",
                                ["name", "version", "role"], registry=r, multiprocess_mode="livemax")
        self.version_requests = Histogram("mnist_model_forward_seconds", "Forward-pass time of the requests "
                                          "each loaded version answered.", ["model", "version"],
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.compared = Counter("mnist_candidate_compared_images", "Images a rollout candidate and the "
                                "served version both computed.", ["model", "version"], registry=r)
        self.agreed = Counter("mnist_candidate_agreed_images", "Of those, images both gave the same digit "
                              "(agreement = agreed / compared).", ["model", "version"], registry=r)
        self._shown: set[tuple[str, str, str]] = set()
        self._version_series: dict[tuple[str, int], Any] = {}

        # labelled children, looked up once: `labels()` costs more than the update itself
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._digit_series = [self.digits.labels(str(d)) for d in range(10)]

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if route.startswith(NOT_TRAFFIC):
            return
        method = method if method in METHODS else "OTHER"
        series = self._request_series.get((route, method, status))
        if series is None:  # bounded: routes are templates or `unmatched`, methods a fixed set
            series = (self.requests.labels(route, method, str(status)),
                      self.latency.labels(route, method, str(status)))
            self._request_series[(route, method, status)] = series
        series[0].inc()
        series[1].observe(seconds)

    def observe_predictions(self, digits: np.ndarray, is_digit: np.ndarray | None = None) -> None:
        self.images.inc(len(digits))
        if is_digit is not None and not is_digit.all():
            self.not_digits.inc(len(is_digit) - int(np.count_nonzero(is_digit)))
        self.batch_size.observe(len(digits))
        if len(digits) == 1:
            self._digit_series[int(digits[0])].inc()
            return
        for digit, count in enumerate(np.bincount(digits, minlength=10).tolist()):
            if count:
                self._digit_series[digit].inc(count)

    def set_loaded(self, loaded: list[tuple[str, int, str]]) -> None:
        """(name, version, role) of every loaded version. Those no longer loaded are set to 0, not
        removed: prometheus-client cannot remove series in multi-process mode."""
        now = {(name, str(version), role) for name, version, role in loaded}
        for labels in self._shown - now:
            self.model_info.labels(*labels).set(0)
        for labels in now:
            self.model_info.labels(*labels).set(1)
        self._shown |= now

    def observe_version(self, name: str, version: int, seconds: float) -> None:
        series = self._version_series.get((name, version))
        if series is None:  # bounded: versions loaded
            series = self._version_series[(name, version)] = self.version_requests.labels(name, str(version))
        series.observe(seconds)

    def observe_comparison(self, name: str, version: int, compared: int, agreed: int) -> None:
        self.compared.labels(name, str(version)).inc(compared)
        self.agreed.labels(name, str(version)).inc(agreed)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
