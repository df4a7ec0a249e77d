"""JSON endpoint of the consult figures: counts per specialty, never clinical content."""

from __future__ import annotations

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.consults.stats import ConsultStats, ConsultStatsOut, StatsQuery
from telehealth.views.routing import Call, Routes

routes = Routes("consult_stats")
READERS = {Role.SPECIALIST, Role.ADMIN}


@routes.get(
    "/api/v1/consults/stats",
    summary="Consult figures per specialty",
    roles=READERS,
    query=StatsQuery,
    response=ConsultStatsOut,
)
async def consult_stats(call: Call[None, StatsQuery]) -> ConsultStatsOut:
    """Requests submitted in the period (default: the last 30 days, at most 366) and what
    became of them; `facility_id` keeps those named to or taken by that facility. Only
    admins get the exact period asked for; for specialists it is widened to whole local
    days, so the figures never single out one request by its filing time."""
    app = call.request.app
    stats = ConsultStats(app[keys.SESSIONMAKER], app[keys.SETTINGS])
    return await stats.figures(call.query, whole_days=not call.principal.has(Role.ADMIN))
