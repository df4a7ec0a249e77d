"""Local days and weeks for the scheduling pages: grouping slots and appointments by day."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import pydantic
from aiohttp import web
from multidict import MultiDict
from pydantic_core import PydanticUseDefault
from yarl import URL

from telehealth import keys
from telehealth.db.base import utcnow
from telehealth.errors import InvalidInput, NotFound
from telehealth.pages.forms import UNREADABLE_FORM, PageQuery, read_form
from telehealth.scheduling import schemas as s
from telehealth.views.templating import N_

# Ids are UUIDs: anything else names nothing and never reaches the database.
ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
SLOT_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}_\d{8}T\d{4}Z$")
QueryId = Annotated[str, pydantic.Field(max_length=64, pattern=ID_RE.pattern)]
QueryCode = Annotated[str, pydantic.Field(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
QueryText = Annotated[str, pydantic.Field(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]

# What the scheduling services and this package raise that a browser user may meet on an
# error page; marked here so the page shows the translation (pages_errors looks it up).
SERVICE_DETAILS = (
    N_("No such appointment."),
    N_("No such slot."),
    N_("No such block."),
    N_("No such practitioner schedule."),
    N_("You can book only for your facility's patients."),
    N_("Only the practitioner or the facility's coordinators can do this."),
    N_("The cursor is not valid."),
    N_("The range can be at most 31 days."),
    N_("'to' must be after 'from'."),
)

# The pages ask the clock through this name so tests can move time, as the services'
# own `clock` parameter does for them.
clock: Callable[[], datetime] = utcnow


class FilterQuery(PageQuery):
    """The query of a page with a filter form: a blank field takes its default ("any")."""

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault
        return value


async def read_page_form(request: web.Request) -> MultiDict[str]:
    """`read_form` (with its CSRF check), refusing NUL characters no database text takes."""
    form = await read_form(request)
    if any("\x00" in value for value in form.values()):
        raise InvalidInput(UNREADABLE_FORM)
    return form


def checked_id(value: str, missing: str = "Not Found") -> str:
    """A path id that may name a row, or NotFound without asking the database."""
    if not ID_RE.match(value):
        raise NotFound(missing)
    return value


def checked_slot_id(value: str) -> str:
    """A path slot id of the form `<practitioner id>_<UTC start>`, or NotFound."""
    if not SLOT_ID_RE.match(value):
        raise NotFound("No such slot.")
    return value


def local_moments(
    form: MultiDict[str], names: tuple[str, ...], tz: ZoneInfo, invalid: str
) -> tuple[dict[str, datetime], dict[str, str]]:
    """The form's date-time fields (a `datetime-local` value has no offset: it is local
    time in `tz`), and the message `invalid` for each one that does not parse."""
    moments: dict[str, datetime] = {}
    errors: dict[str, str] = {}
    for name in names:
        try:
            moment = datetime.fromisoformat(form.get(name, "").strip())
        except ValueError:
            errors[name] = invalid
            continue
        moments[name] = moment if moment.tzinfo else moment.replace(tzinfo=tz)
    return moments, errors


def local_zone(request: web.Request) -> ZoneInfo:
    """The network's default time zone (facilities in Vietnam all share it)."""
    return ZoneInfo(request.app[keys.SETTINGS].default_timezone)


def local_now(request: web.Request) -> datetime:
    """Now, in the network's time zone."""
    return clock().astimezone(local_zone(request))


def week_of(day: date) -> list[date]:
    """Monday to Sunday of the week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=i) for i in range(7)]


def page_url(path: str, **params: str | None) -> str:
    """`path` with the non-empty parameters as its query string."""
    return str(URL(path).with_query({k: v for k, v in params.items() if v}))


def here(request: web.Request) -> str:
    """This page's path and query without `lang`: where the language switch comes back to."""
    query = {k: v for k, v in request.rel_url.query.items() if k != "lang"}
    return str(request.rel_url.with_query(query))


@dataclass
class PractitionerSlots:
    """One practitioner's free slots on one day."""

    practitioner_id: str
    name: str
    facility: str
    specialties: list[str]
    slots: list[s.SlotOut] = field(default_factory=list)


@dataclass
class DaySlots:
    """The free slots of one local day, per practitioner in order of their first slot."""

    day: date
    practitioners: list[PractitionerSlots] = field(default_factory=list)


def group_slots(slots: Iterable[s.SlotOut]) -> list[DaySlots]:
    """Slots (soonest first) grouped by local day, then by practitioner."""
    days: dict[date, dict[str, PractitionerSlots]] = {}
    for slot in slots:
        by_practitioner = days.setdefault(slot.start.date(), {})
        group = by_practitioner.get(slot.practitioner_id)
        if group is None:
            group = PractitionerSlots(
                slot.practitioner_id, slot.practitioner_name, slot.facility.name, slot.specialties
            )
            by_practitioner[slot.practitioner_id] = group
        group.slots.append(slot)
    return [DaySlots(day, list(groups.values())) for day, groups in days.items()]


class _Timed(Protocol):
    @property
    def start(self) -> datetime: ...


T = TypeVar("T", bound=_Timed)


def by_day(items: Iterable[T], days: list[date]) -> list[tuple[date, list[T]]]:
    """Items (already in local time) under each of `days`, empty days included."""
    grouped: dict[date, list[T]] = {day: [] for day in days}
    for item in items:
        grouped.setdefault(item.start.date(), []).append(item)
    return sorted(grouped.items())
