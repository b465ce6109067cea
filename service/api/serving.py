"""From a request to the version that answers it, and the comparisons a rollout asks for.

`route_of` finds the version (404 if it is not loaded, 503 before start-up loaded anything);
`answer` runs it and counts it; `compare_later` has the other version of a rollout compute the
same images after the response is sent, for the candidate's agreement figure. Comparisons are
extra work, so at most MAX_PENDING wait at once; more are skipped (and counted as skipped).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
from fastapi import Request

from service.api import offload
from service.api.errors import APIError
from service.models.loaded_model import Predictions
from service.models.manager import ModelManager
from service.models.registry import NotServed, Route

MAX_PENDING = 4


def manager_of(request: Request) -> ModelManager:
    manager: ModelManager | None = getattr(request.app.state, "models", None)
    if manager is None or manager.registry.default is None:
        raise APIError(503, "no model is loaded yet")
    return manager


def route_of(request: Request, name: str | None = None, version: str | None = None) -> Route:
    """The version that answers: `name`/`version` if given (query parameters `model` and `version`
    on /v1, path parameters on /v2), else the default model, its rollout deciding."""
    try:
        return manager_of(request).registry.route(name, version)
    except NotServed as exc:
        raise APIError(404, str(exc)) from None


def query_route(request: Request) -> Route:
    """route_of for the /v1 routes: `?model=` and `?version=` (a version needs no model: the default)."""
    params = request.query_params
    return route_of(request, params.get("model"), params.get("version"))


def answer(request: Request, route: Route, pixels: np.ndarray) -> Predictions:
    """The routed version's predictions, counted for it and for the metrics."""
    started = time.perf_counter()
    answered = route.model.predict(pixels)
    seconds = time.perf_counter() - started
    stats = route.model.stats
    stats.requests += 1
    stats.seconds += seconds
    metrics = request.app.state.metrics
    metrics.observe_predictions(answered.digits, answered.is_digit)
    metrics.observe_version(route.model.name, route.model.version, seconds)
    return answered


def compare_later(request: Request, route: Route, pixels: np.ndarray, digits: np.ndarray) -> None:
    """If the route compares, have the other version compute `pixels` off the response path."""
    if route.compare is None or route.candidate is None:
        return
    candidate, other = route.candidate, route.compare
    pending: set[asyncio.Task[None]] = request.app.state.comparisons  # strong references to the tasks
    if len(pending) >= MAX_PENDING:
        candidate.stats.skipped += 1
        return
    limiter, metrics = request.app.state.work_limiter, request.app.state.metrics

    async def compare() -> None:
        seconds = other.forward_seconds(len(pixels))
        theirs = (await offload.run(limiter, seconds, lambda: other.predict(pixels))).digits
        agreed = int(np.count_nonzero(theirs == digits))
        candidate.stats.compared += len(digits)
        candidate.stats.agreed += agreed
        metrics.observe_comparison(candidate.name, candidate.version, len(digits), agreed)

    task = asyncio.get_running_loop().create_task(compare())
    pending.add(task)
    task.add_done_callback(pending.discard)
