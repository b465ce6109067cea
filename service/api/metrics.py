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
        self.model_info = Gauge("mnist_model_info", "The loaded model (value 1).", ["name", "version"],
                                registry=r, multiprocess_mode="max")

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

    def observe_predictions(self, digits: np.ndarray) -> None:
        self.images.inc(len(digits))
        self.batch_size.observe(len(digits))
        if len(digits) == 1:
            self._digit_series[int(digits[0])].inc()
            return
        for digit, count in enumerate(np.bincount(digits, minlength=10).tolist()):
            if count:
                self._digit_series[digit].inc(count)

    def set_model(self, name: str, version: int) -> None:
        self.model_info.clear()
        self.model_info.labels(name, str(version)).set(1)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
