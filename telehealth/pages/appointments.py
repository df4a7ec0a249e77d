"""My appointments; one appointment with its actions (cancel, check in, close); the waiting room."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import pydantic
from aiohttp import web
from multidict import MultiDict

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.errors import Conflict, DomainError, InvalidInput, Unprocessable
from telehealth.pages import timetable
from telehealth.pages.forms import (
    FormInvalid,
    FormState,
    PageQuery,
    local_path,
    parse_form,
    see_other,
)
from telehealth.pages.timetable import checked_id, here, read_page_form
from telehealth.scheduling import schemas as s
from telehealth.scheduling.models import ACTIVE_STATUSES, AppointmentStatus
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

PAGE_SIZE = 50
CLOSERS = {Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.ADMIN}
CHANGEABLE = {AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN}
OUTCOMES = {"no_show": AppointmentStatus.NO_SHOW, "completed": AppointmentStatus.COMPLETED}
APPOINTMENT = "/appointments/{appointment_id}"

ENTER_CANCEL_REASON = N_("Say briefly why the appointment is cancelled.")
CANNOT_CHANGE = N_("This appointment can no longer be changed.")
NOT_OPEN_YET = N_("The waiting room opens an hour before the appointment.")
NOT_STARTED = N_("The appointment has not started yet.")
CHOOSE_OUTCOME = N_("Choose whether the visit took place.")


class AppointmentsQuery(PageQuery):
    """Upcoming or past appointments, one page at a time."""

    view: Literal["upcoming", "past", "cancelled"] = "upcoming"
    cursor: str | None = pydantic.Field(default=None, max_length=200)


# What each tab lists: visits still to happen; those whose time has passed; cancelled ones.
VIEWS: dict[str, Callable[[], dict[str, Any]]] = {
    "upcoming": lambda: {"from": timetable.clock(), "active": True},
    "past": lambda: {"to": timetable.clock()},
    "cancelled": lambda: {"status": AppointmentStatus.CANCELLED},
}


class AppointmentQuery(PageQuery):
    """What was just done to the appointment, to confirm it."""

    done: Literal["booked", "rescheduled", "cancelled", "closed"] | None = None


def _id(call: Call[Any, Any]) -> str:
    return checked_id(call.path("appointment_id"), "No such appointment.")


@routes.get("/appointments", summary="My appointments page", page=True, query=AppointmentsQuery)
async def appointments_page(call: Call[None, AppointmentsQuery]) -> web.Response:
    """Patients: their own; practitioners: their schedule; coordinators: their facility."""
    query = s.AppointmentQuery.model_validate(
        {**VIEWS[call.query.view](), "limit": PAGE_SIZE, "cursor": call.query.cursor}
    )
    page = await call.request.app[keys.APPOINTMENTS].list_appointments(
        call.principal, call.audit, query
    )
    context = {"page": page, "view": call.query.view, "here": here(call.request)}
    return render_page(call.request, "appointments.html", context)


@routes.get(APPOINTMENT, summary="One appointment page", page=True, query=AppointmentQuery)
async def appointment_page(call: Call[None, AppointmentQuery]) -> web.Response:
    """Details, and what the caller may do with the appointment now."""
    return await _appointment(call, FormState(), done=call.query.done)


@routes.get(
    APPOINTMENT + "/cancel", summary="Confirm cancelling an appointment", page=True, query=PageQuery
)
async def cancel_page(call: Call[None, PageQuery]) -> web.Response:
    """The step that asks for the reason and a second press before cancelling."""
    return await _cancel_form(call, FormState())


@routes.post(APPOINTMENT + "/cancel", summary="Cancel an appointment", page=True, query=PageQuery)
async def cancel_submit(call: Call[None, PageQuery]) -> web.Response:
    """Cancel with a reason; the time is offered again."""
    form = await read_page_form(call.request)
    try:
        data = parse_form(s.CancelIn, form)
        await call.request.app[keys.APPOINTMENTS].cancel(
            call.principal, call.audit, _id(call), data
        )
    except InvalidInput as error:
        return await _cancel_form(call, _refused(error), form)
    except Conflict as error:
        return await _appointment(call, _refused(error))
    return see_other(f"/appointments/{_id(call)}?done=cancelled")


async def _cancel_form(
    call: Call[Any, Any], state: FormState, form: MultiDict[str] | None = None
) -> web.Response:
    appt = await call.request.app[keys.APPOINTMENTS].get(call.principal, call.audit, _id(call))
    if appt.status not in CHANGEABLE:
        return await _appointment(call, FormState(message=CANNOT_CHANGE, status=409))
    if form is not None:
        state = replace(state, values=FormState.of(form).values)
    context = {"appt": appt, "form": state, "here": here(call.request)}
    return render_page(call.request, "appointment_cancel.html", context, status=state.status)


@routes.post(
    APPOINTMENT + "/check-in", summary="Enter the waiting room", page=True, query=PageQuery
)
async def check_in_submit(call: Call[None, PageQuery]) -> web.Response:
    """Check in (from an hour before the start) and go to the waiting room."""
    await read_page_form(call.request)
    try:
        await call.request.app[keys.APPOINTMENTS].check_in(call.principal, call.audit, _id(call))
    except (Conflict, Unprocessable) as error:
        return await _appointment(call, _refused(error))
    return see_other(f"/appointments/{_id(call)}/waiting-room")


@routes.post(
    APPOINTMENT + "/close",
    summary="Mark a no-show or a completed visit",
    page=True,
    roles=CLOSERS,
    query=PageQuery,
)
async def close_submit(call: Call[None, PageQuery]) -> web.Response:
    """After the start: the patient did not come, or the visit took place."""
    form = await read_page_form(call.request)
    outcome = OUTCOMES.get(form.get("outcome", ""))
    try:
        if outcome is None:
            raise FormInvalid({}, CHOOSE_OUTCOME)
        await call.request.app[keys.APPOINTMENTS].close(
            call.principal, call.audit, _id(call), outcome
        )
    except (InvalidInput, Conflict, Unprocessable) as error:
        return await _appointment(call, _refused(error))
    return see_other(local_path(form.get("next"), f"/appointments/{_id(call)}?done=closed"))


@routes.get(APPOINTMENT + "/waiting-room", summary="Waiting room page", page=True, query=PageQuery)
async def waiting_room_page(call: Call[None, PageQuery]) -> web.Response:
    """Where a checked-in patient waits to be admitted by the doctor."""
    appointment = await call.request.app[keys.APPOINTMENTS].get(
        call.principal, call.audit, _id(call)
    )
    context = {**_moments(call, appointment), "appt": appointment, "here": here(call.request)}
    return render_page(call.request, "waiting_room.html", context)


def _refused(error: DomainError) -> FormState:
    if isinstance(error, FormInvalid):
        return FormState(
            errors=dict.fromkeys(error.errors, ENTER_CANCEL_REASON),
            message=error.message,
            status=400,
        )
    if isinstance(error, Unprocessable):
        started = "started" in error.detail
        return FormState(message=NOT_STARTED if started else NOT_OPEN_YET, status=422)
    if isinstance(error, Conflict):
        return FormState(message=CANNOT_CHANGE, status=409)
    return FormState(message=error.detail, status=400)


def _moments(call: Call[Any, Any], appt: s.AppointmentOut) -> dict[str, Any]:
    now = timetable.clock()
    opens = appt.start - call.request.app[keys.SETTINGS].rooms.opens_before
    return {
        "opens_at": opens,
        "room_open": opens <= now < appt.end,
        "started": appt.start <= now,
    }


async def _appointment(
    call: Call[Any, Any], state: FormState, done: str | None = None
) -> web.Response:
    appt = await call.request.app[keys.APPOINTMENTS].get(call.principal, call.audit, _id(call))
    me = await call.request.app[keys.ACCOUNTS].me(call.principal)
    principal = call.principal
    treats = me.practitioner_id == appt.practitioner.id
    manages = treats or principal.has(Role.ADMIN)
    manages |= principal.has(Role.COORDINATOR) and principal.facility_id == appt.facility.id
    moments = _moments(call, appt)
    context = {
        **moments,
        "appt": appt,
        "form": state,
        "done": done,
        "treats": treats,
        "changeable": appt.status in CHANGEABLE,
        "can_enter": appt.status == AppointmentStatus.BOOKED and not treats,
        "can_close": manages and moments["started"] and appt.status in ACTIVE_STATUSES,
        "here": here(call.request),
    }
    return render_page(call.request, "appointment.html", context, status=state.status)
