"""The consult lists (a specialty's queue, one's own consults) and the figures dashboard."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pydantic
from aiohttp import web

from telehealth import keys
from telehealth.accounts import schemas as accounts_schemas
from telehealth.accounts.models import FacilityLevel, Role
from telehealth.auth.principal import Principal
from telehealth.consults import schemas as s
from telehealth.consults.models import OPEN_STATUSES, ConsultStatus
from telehealth.consults.stats import ConsultStats, ConsultStatsOut, StatsQuery
from telehealth.consults.stats_views import ensure_figure_reader
from telehealth.errors import InvalidInput
from telehealth.pages import consult_charts, timetable
from telehealth.pages.forms import FormState
from telehealth.pages.lookups import MAX_CHOICES, Choices, specialty_choices
from telehealth.pages.timetable import FilterQuery, QueryId, here, local_now, local_zone
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

READERS = {Role.DOCTOR, Role.SPECIALIST, Role.ADMIN}
FIGURE_READERS = {Role.SPECIALIST, Role.ADMIN}
PAGE_SIZE = 50
# The queue, nearest deadline first, shows this many a page.
QUEUE_SIZE = 100
DEFAULT_DAYS = 30
OPEN = frozenset(OPEN_STATUSES)
MINUTE, HOUR, DAY = 60, 3600, 86400

# What the figures service may refuse, as the page shows it (translated where shown).
PERIOD_MESSAGES = {
    "'to' must be after 'from'.": N_("The end of the period must come after its start."),
    "The period can be at most 366 days.": N_("Choose a period of at most 366 days."),
    "The period is out of range.": N_("Choose another period."),
    "facility_id names no facility.": N_("Choose a facility from the list."),
}


class ConsultListQuery(FilterQuery):
    """Which list (the specialty queue or my consults), a status, and the page."""

    view: Literal["queue", "mine"] | None = None
    status: ConsultStatus | None = None
    cursor: str | None = pydantic.Field(default=None, max_length=200)


class FiguresQuery(FilterQuery):
    """The period (local days, both included) and optionally one central hospital."""

    from_: dt.date | None = pydantic.Field(default=None, alias="from")
    to: dt.date | None = None
    facility_id: QueryId | None = None


@dataclass(frozen=True)
class ConsultRow:
    """One consult as its list row shows it."""

    consult: s.ConsultOut
    open: bool
    paused: bool  # waiting on the requester: the deadline's clock is stopped
    overdue: bool
    left: list[tuple[str, int]]  # time to the deadline (or past it), largest unit first
    due_local: datetime | None
    answered_local: datetime | None


def duration_parts(seconds: float) -> list[tuple[str, int]]:
    """The two largest units of a duration ("d", "h", "min", "s"), a zero second one left
    out: 2 d 4 h, 3 h 12 min, 12 min 30 s, 45 s. countdown.js writes it the same way."""
    days, rest = divmod(max(0, int(seconds)), DAY)
    hours, rest = divmod(rest, HOUR)
    minutes, secs = divmod(rest, MINUTE)
    if days:
        parts = [("d", days), ("h", hours)]
    elif hours:
        parts = [("h", hours), ("min", minutes)]
    elif minutes:
        parts = [("min", minutes), ("s", secs)]
    else:
        parts = [("s", secs)]
    return parts[:1] + [p for p in parts[1:] if p[1]]


def consult_row(consult: s.ConsultOut, now: datetime, zone: ZoneInfo) -> ConsultRow:
    """Deadline and overdue state of an open consult as of `now`."""
    due = consult.due_at
    is_open = consult.status in OPEN
    paused = consult.status is ConsultStatus.INFO_REQUESTED
    counting = is_open and due is not None and not paused
    return ConsultRow(
        consult=consult,
        open=is_open,
        paused=paused,
        overdue=counting and due is not None and due <= now,
        left=duration_parts(abs((due - now).total_seconds())) if counting and due else [],
        due_local=due.astimezone(zone) if due else None,
        answered_local=consult.answered_at.astimezone(zone) if consult.answered_at else None,
    )


def list_views(principal: Principal) -> list[str]:
    """The lists a caller has: specialists first see their queue."""
    return ["queue", "mine"] if principal.has(Role.SPECIALIST) else ["mine"]


@routes.get("/consults", summary="Consults page", page=True, roles=READERS, query=ConsultListQuery)
async def consults_page(call: Call[None, ConsultListQuery]) -> web.Response:
    """The specialty queue by deadline, or one's own consults, with their countdowns."""
    views = list_views(call.principal)
    view = call.query.view if call.query.view in views else views[0]
    status = call.query.status
    if view == "queue" and status not in OPEN:
        status = None
    query = s.ConsultQuery.model_validate(
        {
            "queue": "specialty" if view == "queue" else "mine",
            "status": status,
            "limit": QUEUE_SIZE if view == "queue" else PAGE_SIZE,
            "cursor": call.query.cursor,
        }
    )
    page = await call.request.app[keys.CONSULTS].list_consults(call.principal, call.audit, query)
    now, zone = timetable.clock(), local_zone(call.request)
    context_status = status.value if status else ""
    context = {
        "rows": [consult_row(c, now, zone) for c in page.items],
        "view": view,
        "views": views,
        "status": context_status,
        "statuses": [st.value for st in (OPEN_STATUSES if view == "queue" else ConsultStatus)],
        "next": {"view": view, "status": context_status, "cursor": page.next}
        if page.next
        else None,
        "specialties": dict(await specialty_choices(call.request)),
        "now": now,
        "duration_parts": duration_parts,
        "here": here(call.request),
    }
    return render_page(call.request, "consult_list.html", context)


@routes.get(
    "/consults/dashboard",
    summary="Consult figures page",
    page=True,
    roles=FIGURE_READERS,
    query=FiguresQuery,
)
async def figures_page(call: Call[None, FiguresQuery]) -> web.Response:
    """The period picker, the figures per specialty, and three charts of them."""
    await ensure_figure_reader(call)
    today = local_now(call.request).date()
    start = call.query.from_ or today - timedelta(days=DEFAULT_DAYS - 1)
    end = call.query.to or today
    facility_id = call.query.facility_id or ""
    form = FormState(
        values={"from": start.isoformat(), "to": end.isoformat(), "facility_id": facility_id}
    )
    figures: ConsultStatsOut | None = None
    try:
        figures = await _stats(call).figures(
            StatsQuery.model_validate(
                {"from": start, "to": end, "facility_id": call.query.facility_id}
            ),
            whole_days=True,
        )
    except InvalidInput as error:
        form.message = PERIOD_MESSAGES.get(error.detail, error.detail)
        form.status = 400
    names = dict(await specialty_choices(call.request))
    context = {
        "form": form,
        "figures": figures,
        "charts": _charts(call, figures, names) if figures else None,
        "facilities": await _central_facilities(call),
        "names": names,
        "duration_parts": duration_parts,
        "here": here(call.request),
    }
    return render_page(call.request, "consult_dashboard.html", context, status=form.status)


def _stats(call: Call[Any, Any]) -> ConsultStats:
    app = call.request.app
    return ConsultStats(app[keys.SESSIONMAKER], app[keys.SETTINGS], clock=timetable.clock)


async def _central_facilities(call: Call[Any, Any]) -> Choices:
    query = accounts_schemas.FacilityQuery(level=FacilityLevel.CENTRAL, limit=MAX_CHOICES)
    page = await call.request.app[keys.ACCOUNTS].list_facilities(query)
    return [(f.id, f"{f.name} ({f.code})") for f in page.items]


def _charts(
    call: Call[Any, Any], figures: ConsultStatsOut, names: dict[str, str]
) -> dict[str, consult_charts.Chart]:
    deadlines = dict(call.request.app[keys.SETTINGS].consults.deadlines)
    rows = figures.specialties
    return {
        "requests": consult_charts.requests_chart(rows, names),
        "median": consult_charts.median_chart(rows, names, deadlines),
        "in_time": consult_charts.in_time_chart(rows, names),
    }
