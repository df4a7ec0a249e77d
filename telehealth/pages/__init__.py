"""Server-rendered pages (Jinja2): sign-in, registration, dashboards and administration."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register every page route."""
