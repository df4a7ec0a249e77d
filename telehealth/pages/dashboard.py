"""The home page: one section per role the signed-in user holds."""

from __future__ import annotations

from aiohttp import web

from telehealth import keys
from telehealth.accounts.models import CLINICAL_ROLES, Role
from telehealth.consults.stats import ConsultStats, WorkSummary
from telehealth.pages import timetable
from telehealth.pages.forms import PageQuery
from telehealth.scheduling import schemas as s
from telehealth.scheduling.models import ACTIVE_STATUSES
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import render_page

routes = Routes("pages")

UPCOMING_SHOWN = 5


@routes.get("/", summary="Dashboard", page=True, query=PageQuery)
async def dashboard(call: Call[None, PageQuery]) -> web.Response:
    """What each of the caller's roles can do from here."""
    me = await call.request.app[keys.ACCOUNTS].me(call.principal)
    upcoming: list[s.AppointmentOut] = []
    if call.principal.has(Role.PATIENT):
        upcoming = await _upcoming(call)
    consults = await _consult_work(call) if call.principal.has(*CLINICAL_ROLES) else None
    context = {"me": me, "upcoming": upcoming, "consults": consults}
    return render_page(call.request, "dashboard.html", context)


async def _upcoming(call: Call[None, PageQuery]) -> list[s.AppointmentOut]:
    """The patient's next appointments that still take place."""
    query = s.AppointmentQuery.model_validate(
        {"from": timetable.clock(), "limit": UPCOMING_SHOWN * 2}
    )
    page = await call.request.app[keys.APPOINTMENTS].list_appointments(
        call.principal, call.audit, query
    )
    return [a for a in page.items if a.status in ACTIVE_STATUSES][:UPCOMING_SHOWN]


async def _consult_work(call: Call[None, PageQuery]) -> WorkSummary:
    """The clinician's consult counts: their queue, or their own requests."""
    app = call.request.app
    stats = ConsultStats(app[keys.SESSIONMAKER], app[keys.SETTINGS], clock=timetable.clock)
    return await stats.work_summary(call.principal)
