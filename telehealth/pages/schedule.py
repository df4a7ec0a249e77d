"""A practitioner's day or week of appointments (coordinators choose a practitioner)."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any, Literal

import pydantic
from aiohttp import web

from telehealth import keys
from telehealth.accounts import schemas as accounts_schemas
from telehealth.accounts.models import Role
from telehealth.accounts.schemas import MeOut
from telehealth.pages import timetable
from telehealth.pages.lookups import Choices
from telehealth.pages.timetable import FilterQuery, QueryId, by_day, here, local_now, week_of
from telehealth.scheduling import schemas as s
from telehealth.scheduling.models import ACTIVE_STATUSES
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import render_page

routes = Routes("pages")

SCHEDULERS = {Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.ADMIN}
MANAGERS = (Role.COORDINATOR, Role.ADMIN)
# A busy week fits on one page; more appointments than this continue on the next page,
# which keeps every page under 100 KB even with a close form on each row.
PAGE_SIZE = 100
MAX_PRACTITIONERS = 200


class ScheduleQuery(FilterQuery):
    """Which day or week, and (coordinators) whose schedule."""

    view: Literal["day", "week"] = "day"
    date: dt.date | None = None
    practitioner_id: QueryId | None = None
    cursor: str | None = pydantic.Field(default=None, max_length=200)


async def practitioner_choices(call: Call[Any, Any]) -> Choices:
    """(id, name) of the practitioners a coordinator (their facility) or an admin manages."""
    if not call.principal.has(*MANAGERS):
        return []
    facility_id = None if call.principal.has(Role.ADMIN) else call.principal.facility_id
    query = accounts_schemas.PractitionerQuery(facility_id=facility_id, limit=MAX_PRACTITIONERS)
    page = await call.request.app[keys.ACCOUNTS].list_practitioners(query)
    return [(p.id, p.full_name) for p in page.items]


def chosen_practitioner(me: MeOut, choices: Choices, wanted: str | None) -> str | None:
    """Managers see whom they choose; a practitioner always sees their own schedule."""
    if choices and wanted in dict(choices):
        return wanted
    return me.practitioner_id


@routes.get("/schedule", summary="Schedule page", page=True, roles=SCHEDULERS, query=ScheduleQuery)
async def schedule_page(call: Call[None, ScheduleQuery]) -> web.Response:
    """Appointments per local day, with no-show and completed buttons once they start."""
    q = call.query
    day = q.date or local_now(call.request).date()
    days = [day] if q.view == "day" else week_of(day)
    me = await call.request.app[keys.ACCOUNTS].me(call.principal)
    choices = await practitioner_choices(call)
    practitioner_id = chosen_practitioner(me, choices, q.practitioner_id)
    query = s.AppointmentQuery.model_validate(
        {
            "from": days[0],
            "to": days[-1],
            "practitioner_id": practitioner_id,
            "limit": PAGE_SIZE,
            "cursor": q.cursor,
        }
    )
    page = await call.request.app[keys.APPOINTMENTS].list_appointments(call.principal, query)
    step = timedelta(days=1 if q.view == "day" else 7)
    params = {"view": q.view, "practitioner_id": practitioner_id or ""}
    rooms = [a.room_id for a in page.items if a.room_id and a.status in ACTIVE_STATUSES]
    zone = timetable.local_zone(call.request)
    waiting = await call.request.app[keys.ROOMS].waiting_since(rooms)
    context = {
        "waiting": {room: since.astimezone(zone) for room, since in waiting.items()},
        "days": by_day(page.items, days),
        "view": q.view,
        "day": day,
        "today": local_now(call.request).date(),
        "previous": {**params, "date": (day - step).isoformat()},
        "following": {**params, "date": (day + step).isoformat()},
        "more": {**params, "date": day.isoformat(), "cursor": page.next} if page.next else None,
        "choices": choices,
        "practitioner_id": practitioner_id or "",
        "now": timetable.clock(),
        "active": {a.value for a in ACTIVE_STATUSES},
        "here": here(call.request),
    }
    return render_page(call.request, "schedule.html", context)
