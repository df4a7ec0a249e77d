"""Server-rendered pages (Jinja2): sign-in, dashboards, administration, booking and schedules."""

from __future__ import annotations

from aiohttp import web

from telehealth.pages import (
    admin,
    appointments,
    availability,
    booking,
    dashboard,
    language,
    patients,
    schedule,
    sign_in,
)


def setup(app: web.Application) -> None:
    """Register every page route."""
    for module in (
        sign_in,
        language,
        dashboard,
        patients,
        admin,
        booking,
        appointments,
        schedule,
        availability,
    ):
        module.routes.register(app)
