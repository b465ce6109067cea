"""The HTTP layer: routes, their dependencies, middleware, error rendering, metrics, logs, OpenAPI models."""
