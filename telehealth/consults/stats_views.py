"""JSON endpoint of the consult figures: counts per specialty, never clinical content."""

from __future__ import annotations

from typing import Any

from telehealth import keys
from telehealth.accounts.models import FacilityLevel, Role
from telehealth.consults.stats import ConsultStats, ConsultStatsOut, StatsQuery
from telehealth.errors import Forbidden
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_

routes = Routes("consult_stats")
READERS = {Role.SPECIALIST, Role.ADMIN}
CENTRAL_ONLY = N_("The consult figures are for the specialists of central hospitals.")


async def ensure_figure_reader(call: Call[Any, Any]) -> None:
    """Admins, and specialists of central hospitals (the hubs the figures are about);
    the API and the dashboard page ask the same."""
    if call.principal.has(Role.ADMIN):
        return
    me = await call.request.app[keys.ACCOUNTS].me(call.principal)
    if me.facility is None or me.facility.level != FacilityLevel.CENTRAL:
        raise Forbidden(CENTRAL_ONLY)


@routes.get(
    "/api/v1/consults/stats",
    summary="Consult figures per specialty",
    roles=READERS,
    query=StatsQuery,
    response=ConsultStatsOut,
)
async def consult_stats(call: Call[None, StatsQuery]) -> ConsultStatsOut:
    """Requests submitted in the period (default: the last 30 days, at most 366) and what
    became of them; `facility_id` keeps those named to or taken by that facility. For
    admins and the specialists of central hospitals. Only
    admins get the exact period asked for; for specialists it is widened to whole local
    days, so the figures never single out one request by its filing time."""
    await ensure_figure_reader(call)
    app = call.request.app
    stats = ConsultStats(app[keys.SESSIONMAKER], app[keys.SETTINGS])
    return await stats.figures(call.query, whole_days=not call.principal.has(Role.ADMIN))
