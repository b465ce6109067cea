"""HTTP API: routers under `service.api.routes`, schemas for the OpenAPI page."""
