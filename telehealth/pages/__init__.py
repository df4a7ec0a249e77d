"""Server-rendered pages (Jinja2): sign-in, dashboards, administration, booking and schedules."""

from __future__ import annotations

from aiohttp import web

from telehealth.pages import (
    admin,
    appointments,
    availability,
    booking,
    call,
    consult_files,
    consult_lists,
    consult_opinion,
    consult_print,
    consult_request,
    consult_uploads,
    consults,
    dashboard,
    language,
    patients,
    rota,
    schedule,
    sign_in,
)
from telehealth.teaching import pages as teaching
from telehealth.views.routing import register_all


def setup(app: web.Application) -> None:
    """Register every page route (fixed paths first, see `register_all`)."""
    modules = (
        sign_in,
        language,
        dashboard,
        patients,
        admin,
        booking,
        appointments,
        schedule,
        availability,
        consult_lists,
        consult_request,
        consults,
        consult_opinion,
        consult_print,
        consult_files,
        consult_uploads,
        rota,
        teaching,
        call,
    )
    register_all(app, [module.routes for module in modules])
