"""The HTTP edge: routing, middlewares, problem+json, templating, health, metrics, OpenAPI."""
