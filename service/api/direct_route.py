"""`DirectRoute`: an APIRoute whose endpoint needs nothing resolved is called directly; and
`DirectDispatch`: the prediction routes reached without FastAPI's routing layers.

FastAPI resolves every endpoint's parameters on each request (query, headers, cookies,
dependencies), which costs a one-image prediction about as much as its forward pass. An
`async def` endpoint whose parameters are only the `Request` and `str` path parameters needs none
of that: this route calls it with them straight away. It is documented in OpenAPI like any route
(the route and its `openapi_extra` are unchanged); an endpoint with any other parameter is
handled by APIRoute as usual.

Below the middleware, a request still passes five layers (exception handling, the exit stack, the
router, the included router, the route's wrapper) before such an endpoint, and its answer passes
them back: a share of a one-image request's cost that the routing decides nothing for. The request
middleware hands the traffic routes (`/v1/predict`, `/v2/models/{name}/infer`, ...) straight to
their endpoints through `DirectDispatch`, rendering a ServiceError as the app's handler does; every
other request, and any POST these routes do not match, takes the app's routing as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, get_route_path
from starlette.types import Receive, Scope, Send

from service.errors import ServiceError

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
ErrorResponse = Callable[[Request, ServiceError], Awaitable[Response]]


def direct_parameters(endpoint: Callable[..., Any], path_params: set[str]) -> tuple[str, list[str]] | None:
    """(the Request parameter's name, the path parameters' names) if `endpoint` can be called
    directly; None if it needs FastAPI's resolution."""
    if not inspect.iscoroutinefunction(endpoint):
        return None
    request_name, path_names = None, []
    for name, param in inspect.signature(endpoint, eval_str=True).parameters.items():
        if param.annotation is Request and request_name is None:
            request_name = name
        elif param.annotation is str and name in path_params and param.default is inspect.Parameter.empty:
            path_names.append(name)
        else:
            return None
    return (request_name, path_names) if request_name is not None else None


class DirectRoute(APIRoute):
    direct_handler: Handler | None = None  # set when the endpoint can be called directly

    def get_route_handler(self) -> Handler:
        found = direct_parameters(self.endpoint, set(self.param_convertors))
        if found is None:
            return super().get_route_handler()
        endpoint, (request_name, path_names) = self.endpoint, found

        async def handler(request: Request) -> Response:
            path = request.path_params
            response: Response = await endpoint(**{request_name: request}, **{n: path[n] for n in path_names})
            return response

        self.direct_handler = handler
        return handler


class DirectDispatch:
    """The POST routes among `routes` whose endpoints are called directly, matched in order."""

    def __init__(self, routes: Iterable[BaseRoute], error_response: ErrorResponse) -> None:
        self.table = [(r, r.direct_handler) for r in routes if isinstance(r, DirectRoute)
                      and r.direct_handler is not None and r.methods == {"POST"}]
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the request if it is one of the routes; False (nothing sent) if it is not."""
        if scope["method"] != "POST":
            return False
        path = get_route_path(scope)
        for route, handler in self.table:
            match = route.path_regex.match(path)
            if match is None:
                continue
            convert = route.param_convertors
            scope["route"], scope["endpoint"] = route, route.endpoint
            scope["path_params"] = {**scope.get("path_params", {}),
                                    **{k: convert[k].convert(v) for k, v in match.groupdict().items()}}
            request = Request(scope, receive, send)
            try:
                response = await handler(request)
            except ServiceError as exc:
                response = await self.error_response(request, exc)
            await response(scope, receive, send)
            return True
        return False
