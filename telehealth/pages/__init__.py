"""Server-rendered pages (Jinja2): sign-in, registration, dashboards and administration."""

from __future__ import annotations

from aiohttp import web

from telehealth.pages import admin, dashboard, patients, sign_in


def setup(app: web.Application) -> None:
    """Register every page route."""
    for module in (sign_in, dashboard, patients, admin):
        module.routes.register(app)
