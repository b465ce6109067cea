"""OpenAPI plumbing for routes that read their own bodies: the request-body documentation built from
a pydantic model (its `$defs` inlined), the binary-string schema and the example digit."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.models.checks import example

BINARY = {"type": "string", "format": "binary"}


def example_digit() -> list[list[int]]:
    """A real MNIST test digit (a 7), 28 rows of 28 raw 0-255 values."""
    pixels: list[list[int]] = example()["pixels"]
    return pixels


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its `$defs` substituted: its `#/$defs/...` references would not
    resolve once embedded in the OpenAPI document."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        return [resolve(v) for v in node] if isinstance(node, list) else node

    result: dict[str, Any] = resolve(schema)
    return result


def request_body(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` documenting a JSON body that the route reads itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": inline_refs(model.model_json_schema()), "example": example}}}}
