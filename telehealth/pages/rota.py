"""The on-call rota page: the coming two weeks per specialty and hospital (admins only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pydantic
from aiohttp import web
from multidict import MultiDict

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.accounts.schemas import FacilityRef
from telehealth.consults import rota as r
from telehealth.errors import DomainError, ErrorCode, InvalidInput
from telehealth.pages import timetable
from telehealth.pages.forms import FormInvalid, FormState, PageQuery, see_other
from telehealth.pages.lookups import specialty_choices
from telehealth.pages.timetable import checked_id, local_moments, local_zone, read_page_form
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

ADMIN = {Role.ADMIN}
COMING = timedelta(days=14)
MAX_PAGES = 10
FIELDS = ("specialty", "facility_id", "practitioner_id")
TIMES = ("start_at", "end_at")
CHOOSE = N_("Choose one from the list.")
WHEN = N_("Enter a date and time in the years 2000 to 2099.")
ORDER = N_("The end must come after the start, at most 7 days later.")
ENDED = N_("The shift must end in the future.")
NOT_HUB = N_("Only central and provincial hospitals keep an on-call rota.")
NOT_ELIGIBLE = N_("This specialist does not hold the specialty, or does not work at the hospital.")
OVERLAP = N_("This specialist is already on call for this specialty during part of that time.")
# Where a refusal of the service belongs on the form, by its code.
REFUSALS: dict[ErrorCode, tuple[str | None, str, int]] = {
    ErrorCode.FACILITY_INELIGIBLE: ("facility_id", NOT_HUB, 422),
    ErrorCode.PRACTITIONER_INELIGIBLE: ("practitioner_id", NOT_ELIGIBLE, 422),
    ErrorCode.OVERLAPPING_SHIFT: (None, OVERLAP, 409),
}
# Raised by the service and shown on an error page; marked here for translation.
SERVICE_DETAILS = (N_("No such shift."), N_("A shift that has ended stays on the record."))


class RotaPageQuery(PageQuery):
    """What was just done, for the notice."""

    done: Literal["created", "deleted"] | None = None


@dataclass
class RotaRow:
    """One shift as the page shows it, in local time."""

    id: str
    name: str
    start: datetime
    end: datetime


@dataclass
class RotaGroup:
    """The coming shifts of one specialty at one hospital."""

    specialty: str
    facility: FacilityRef
    rows: list[RotaRow] = field(default_factory=list)


@routes.get(
    "/admin/on-call", summary="On-call rota page", page=True, roles=ADMIN, query=RotaPageQuery
)
async def rota_page(call: Call[None, RotaPageQuery]) -> web.Response:
    """The rota of the coming two weeks and a form to add a shift."""
    return await _render(call, FormState(values=_defaults(local_zone(call.request))))


@routes.post(
    "/admin/on-call", summary="Add an on-call shift", page=True, roles=ADMIN, query=PageQuery
)
async def shift_submit(call: Call[None, PageQuery]) -> web.Response:
    """Add the shift described by the form."""
    form = await read_page_form(call.request)
    try:
        data = _parse(form, local_zone(call.request))
        await call.request.app[keys.ROTA].add_shift(call.principal, call.audit, data)
    except DomainError as error:
        if not isinstance(error, InvalidInput) and error.code not in REFUSALS:
            raise
        return await _render(call, _refused(form, error))
    return see_other("/admin/on-call?done=created")


@routes.post(
    "/admin/on-call/{shift_id}/delete",
    summary="Remove an on-call shift",
    page=True,
    roles=ADMIN,
    query=PageQuery,
)
async def shift_delete(call: Call[None, PageQuery]) -> web.Response:
    """Take the shift off the rota."""
    await read_page_form(call.request)
    shift_id = checked_id(call.path("shift_id"), "No such shift.")
    await call.request.app[keys.ROTA].remove_shift(call.principal, call.audit, shift_id)
    return see_other("/admin/on-call?done=deleted")


def _defaults(tz: ZoneInfo) -> dict[str, str]:
    """A day shift from tomorrow 07:00 to the day after, as a starting point."""
    tomorrow = timetable.clock().astimezone(tz).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(7, 0))
    return {"start_at": _local(start), "end_at": _local(start + timedelta(days=1))}


def _local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def _parse(form: MultiDict[str], tz: ZoneInfo) -> r.ShiftIn:
    """The shift from the form; a `datetime-local` value has no offset: it is local time."""
    data: dict[str, Any] = {name: form.get(name, "").strip() for name in FIELDS}
    moments, errors = local_moments(form, TIMES, tz, WHEN)
    data.update(moments)
    errors.update({name: CHOOSE for name in FIELDS if not data[name]})
    if errors:
        raise FormInvalid(errors)
    try:
        return r.ShiftIn.model_validate(data, strict=False)
    except pydantic.ValidationError as exc:
        raise FormInvalid(_field_errors(exc)) from None


def _field_errors(exc: pydantic.ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else "end_at"
        message = CHOOSE if name in FIELDS else WHEN if error["loc"] else ORDER
        errors.setdefault(name, message)
    return errors


def _refused(form: MultiDict[str], error: DomainError) -> FormState:
    state = FormState.of(form)
    if isinstance(error, FormInvalid):
        state.errors, state.message, state.status = error.errors, error.message, 400
        return state
    name, message, state.status = REFUSALS.get(error.code, (None, error.detail, 400))
    if error.detail == r.ENDED:
        name, message = "end_at", ENDED
    if name is None:
        state.message = message
    else:
        state.errors = {name: message}
    return state


async def _render(call: Call[Any, Any], state: FormState) -> web.Response:
    request = call.request
    rota = request.app[keys.ROTA]
    choices = await rota.choices(call.principal)
    specialties = await specialty_choices(request)
    context = {
        "groups": await _coming(call, local_zone(request)),
        "specialty_names": dict(specialties),
        "specialties": specialties,
        "facilities": [(f.id, f"{f.name} ({f.code})") for f in choices.facilities],
        "specialists": _specialist_choices(choices, dict(specialties)),
        "form": state,
        "done": call.query.done if isinstance(call.query, RotaPageQuery) else None,
    }
    return render_page(request, "admin_on_call.html", context, status=state.status)


async def _coming(call: Call[Any, Any], tz: ZoneInfo) -> list[RotaGroup]:
    """Every shift of the coming two weeks, grouped by specialty and hospital."""
    start = timetable.clock()
    window: dict[str, Any] = {"from": start, "to": start + COMING, "limit": 200}
    groups: dict[tuple[str, str], RotaGroup] = {}
    for _ in range(MAX_PAGES):
        page = await call.request.app[keys.ROTA].list_shifts(
            call.principal, r.RotaQuery.model_validate(window)
        )
        for s in page.items:
            group = groups.setdefault(
                (s.specialty, s.facility.id), RotaGroup(s.specialty, s.facility)
            )
            name = s.practitioner.full_name
            group.rows.append(
                RotaRow(s.id, name, s.start_at.astimezone(tz), s.end_at.astimezone(tz))
            )
        if page.next is None:
            break
        window["cursor"] = page.next
    return sorted(groups.values(), key=lambda g: (g.specialty, g.facility.name))


def _specialist_choices(choices: r.RotaChoices, names: dict[str, str]) -> list[tuple[str, str]]:
    hubs = {f.id: f.name for f in choices.facilities}
    return [
        (
            s.practitioner_id,
            f"{s.full_name} — {hubs.get(s.facility_id, '')} "
            f"({', '.join(names.get(c, c) for c in s.specialties)})",
        )
        for s in choices.specialists
    ]
