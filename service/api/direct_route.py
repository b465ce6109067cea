"""`DirectRoute`: an APIRoute whose endpoint needs nothing resolved is called directly.

FastAPI resolves every endpoint's parameters on each request (query, headers, cookies,
dependencies), which costs a one-image prediction about as much as its forward pass. An
`async def` endpoint whose parameters are only the `Request` and `str` path parameters needs none
of that: this route calls it with them straight away. It is documented in OpenAPI like any route
(the route and its `openapi_extra` are unchanged); an endpoint with any other parameter is
handled by APIRoute as usual.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


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
    def get_route_handler(self) -> Handler:
        found = direct_parameters(self.endpoint, set(self.param_convertors))
        if found is None:
            return super().get_route_handler()
        endpoint, (request_name, path_names) = self.endpoint, found

        async def handler(request: Request) -> Response:
            path = request.path_params
            response: Response = await endpoint(**{request_name: request}, **{n: path[n] for n in path_names})
            return response

        return handler
