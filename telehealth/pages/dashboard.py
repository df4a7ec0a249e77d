"""The home page: one section per role the signed-in user holds."""

from __future__ import annotations

from aiohttp import web

from telehealth import keys
from telehealth.pages.forms import PageQuery
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import render_page

routes = Routes("pages")


@routes.get("/", summary="Dashboard", page=True, query=PageQuery)
async def dashboard(call: Call[None, PageQuery]) -> web.Response:
    """What each of the caller's roles can do from here."""
    me = await call.request.app[keys.ACCOUNTS].me(call.principal)
    return render_page(call.request, "dashboard.html", {"me": me})
