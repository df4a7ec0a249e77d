"""Teaching pages: a trainer's sessions (schedule, enrolments, attendance, cancel) and a
trainee's open sessions (enrol, cancel, join the room, print a certificate)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
from aiohttp import web
from multidict import MultiDict

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.errors import DomainError, InvalidInput
from telehealth.pages.forms import (
    FormInvalid,
    FormState,
    ListQuery,
    PageQuery,
    form_failure,
    see_other,
)
from telehealth.pages.lookups import facility_choices
from telehealth.pages.timetable import checked_id, local_moments, local_zone, read_page_form
from telehealth.teaching import schemas as s
from telehealth.teaching.service import NO_SUCH_SESSION, TeachingService
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

__all__ = ["routes"]

routes = Routes("pages")
EITHER = {Role.TRAINER, Role.TRAINEE}
TRAINER = {Role.TRAINER}
TRAINEE = {Role.TRAINEE}
WHEN = N_("Enter a date and time in the years 2000 to 2099.")
ORDER = N_("The end must come after the start, at most 12 hours later.")
FIELD = N_("Check this field.")
PAST = N_("The session must start in the future.")
# Refusals of the service shown on the pages; marked here for translation.
SERVICE_DETAILS = (
    N_("The session is full."),
    N_("You are already enrolled in this session."),
    N_("You are not enrolled in this session."),
    N_("This session is not open for enrolment."),
    N_("The session is already cancelled."),
    N_("The session is over; it cannot be cancelled."),
    N_("No certificate: attendance below the required share."),
    N_(NO_SUCH_SESSION),
)


def _teaching(call: Call[Any, Any]) -> TeachingService:
    return call.request.app[keys.TEACHING]


def _session_id(call: Call[Any, Any]) -> str:
    return checked_id(call.path("session_id"), NO_SUCH_SESSION)


@routes.get("/teaching", summary="Teaching sessions page", page=True, roles=EITHER, query=ListQuery)
async def sessions_page(call: Call[None, ListQuery]) -> web.Response:
    """A trainer's sessions and the form to schedule one; a trainee's open sessions."""
    return await _render_list(call, FormState())


@routes.post(
    "/teaching", summary="Schedule a teaching session", page=True, roles=TRAINER, query=PageQuery
)
async def create_submit(call: Call[None, Any]) -> web.Response:
    """Schedule the session described by the form, then show it."""
    form = await read_page_form(call.request)
    try:
        data = _parse(form, local_zone(call.request))
        created = await _teaching(call).create(call.principal, call.audit, data)
    except DomainError as error:
        if not isinstance(error, InvalidInput):
            raise
        state = form_failure(form, error, lists=("facility_ids",))
        if error.detail == "The session must start in the future.":
            state.errors, state.message = {"starts_at": PAST}, None
        return await _render_list(call, state)
    return see_other(f"/teaching/{created.id}")


@routes.get(
    "/teaching/{session_id}",
    summary="Teaching session page",
    page=True,
    roles=EITHER,
    query=PageQuery,
)
async def session_page(call: Call[None, Any]) -> web.Response:
    """The session; its trainer also sees enrolments and attendance."""
    teaching, principal = _teaching(call), call.principal
    session = await teaching.get(principal, _session_id(call))
    mine = session.trainer.id == principal.user_id
    context: dict[str, Any] = {"session": session, "mine": mine, "tz": local_zone(call.request)}
    if mine:
        context["enrolments"] = await teaching.enrolments(principal, call.audit, session.id)
        context["attendance"] = await teaching.attendance(principal, call.audit, session.id)
    return render_page(call.request, "teaching/session.html", context)


# The buttons of the session page: (path, summary, who, the service's use case).
BUTTONS: tuple[tuple[str, str, set[Role], str], ...] = (
    ("enrol", "Enrol from the page", TRAINEE, "enrol"),
    ("unenrol", "Cancel one's enrolment from the page", TRAINEE, "cancel_enrolment"),
    ("cancel", "Cancel a session from the page", TRAINER, "cancel"),
)


def _button(use_case: str) -> Callable[[Call[None, Any]], Awaitable[web.Response]]:
    async def submit(call: Call[None, Any]) -> web.Response:
        await read_page_form(call.request)
        session_id = _session_id(call)
        act = getattr(_teaching(call), use_case)
        await act(call.principal, call.audit, session_id)
        return see_other(f"/teaching/{session_id}")

    submit.__name__ = f"{use_case}_submit"
    submit.__doc__ = "Press the button, then back to the session."
    return submit


for _path, _summary, _roles, _use_case in BUTTONS:
    routes.post(
        f"/teaching/{{session_id}}/{_path}",
        summary=_summary,
        page=True,
        roles=_roles,
        query=PageQuery,
    )(_button(_use_case))


@routes.get(
    "/teaching/{session_id}/certificate",
    summary="Printable certificate of attendance",
    page=True,
    roles=TRAINEE,
    query=PageQuery,
)
async def certificate_page(call: Call[None, Any]) -> web.Response:
    """For a trainee present at least the configured share of the session; 404 otherwise."""
    found = await _teaching(call).certificate(call.principal, _session_id(call))
    context = {"session": found.session, "attendee": found.attendee, "tz": local_zone(call.request)}
    return render_page(call.request, "teaching/certificate.html", context)


async def _render_list(call: Call[Any, Any], state: FormState) -> web.Response:
    request = call.request
    cursor = call.query.cursor if isinstance(call.query, ListQuery) else None
    page = await _teaching(call).list_sessions(call.principal, 50, cursor)
    trainer = call.principal.has(Role.TRAINER)
    context = {
        "sessions": page.items,
        "next": page.next,
        "trainer": trainer,
        "facilities": await facility_choices(request) if trainer else [],
        "form": state,
        "tz": local_zone(request),
    }
    return render_page(request, "teaching/sessions.html", context, status=state.status)


def _parse(form: MultiDict[str], tz: ZoneInfo) -> s.SessionIn:
    """The session from the form; `datetime-local` values are local time."""
    data: dict[str, Any] = {
        "title": form.get("title", ""),
        "topic": form.get("topic", ""),
        "capacity": form.get("capacity", ""),
        "facility_ids": [f for f in form.getall("facility_ids", []) if f],
    }
    moments, errors = local_moments(form, ("starts_at", "ends_at"), tz, WHEN)
    data.update(moments)
    if errors:
        raise FormInvalid(errors)
    try:
        return s.SessionIn.model_validate(data, strict=False)
    except pydantic.ValidationError as exc:
        raise FormInvalid(_errors(exc)) from None


def _errors(exc: pydantic.ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else "ends_at"
        errors.setdefault(name, FIELD if error["loc"] else ORDER)
    return errors
