"""One consult as its parties see it (header, case, files, timeline, opinions) and its actions."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from aiohttp import web
from multidict import MultiDict
from pydantic import BaseModel

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.consults import schemas as s
from telehealth.consults.models import OPEN_STATUSES, ConsultStatus
from telehealth.consults.service import ConsultService
from telehealth.errors import NotFound
from telehealth.pages import consult_files, timetable
from telehealth.pages.consult_forms import (
    CHECK,
    FIELD_MESSAGES,
    REFUSALS,
    consult_id,
    local_time,
    refused,
    remaining,
    specialist_choices,
    validate,
)
from telehealth.pages.consult_timeline import (
    amendment_changes,
    amendments,
    pending_question,
    timeline_view,
)
from telehealth.pages.forms import FormInvalid, FormState, PageQuery, see_other
from telehealth.pages.lookups import facility_choices, specialty_choices
from telehealth.pages.timetable import local_zone, read_page_form
from telehealth.rooms.models import RoomState
from telehealth.views.routing import Call, Handler, Routes
from telehealth.views.templating import render_page

routes = Routes("pages")

M = TypeVar("M", bound=BaseModel)
CLINICIANS = {Role.DOCTOR, Role.SPECIALIST}
CONSULT = "/consults/{consult_id}"
ANSWERABLE = (ConsultStatus.ACCEPTED, ConsultStatus.INFO_REQUESTED, ConsultStatus.ANSWERED)
Done = Literal[
    "submitted",
    "amended",
    "cancelled",
    "accepted",
    "info_requested",
    "assigned",
    "scheduled",
    "message",
    "signed",
    "uploaded",
]


class ConsultPageQuery(PageQuery):
    """What was just done to the consult, to confirm it."""

    done: Done | None = None


@routes.get(CONSULT, summary="One consult page", page=True, query=ConsultPageQuery)
async def consult_page(call: Call[None, ConsultPageQuery]) -> web.Response:
    """Clinical content for the parties; admins who are not parties see metadata only."""
    return await consult_view(call, FormState(), done=call.query.done)


def _consults(call: Call[Any, Any]) -> ConsultService:
    return call.request.app[keys.CONSULTS]


def _parse(model: type[M], form: MultiDict[str], **names: str) -> M:
    """`model` from the form fields `names` gives per model field; errors name the form field."""
    data = {field: form[name] for field, name in names.items() if form.get(name, "").strip()}
    try:
        return validate(model, data)
    except FormInvalid as exc:
        errors = {names.get(k, k): FIELD_MESSAGES.get(names.get(k, k), CHECK) for k in exc.errors}
        raise FormInvalid(errors) from None


def _back(call: Call[Any, Any], done: str) -> str:
    return f"/consults/{consult_id(call)}?done={done}"


# Declining or handing over may take the consult out of the caller's sight: they go back
# to the list of consults instead.
LIST = "/consults"


# An action reads its form, asks the service, and says where to go next.
Action = Callable[[Call[None, PageQuery], MultiDict[str]], Awaitable[str]]


def _action(path: str, summary: str) -> Callable[[Action], Handler]:
    """Route a consult action: run it from its form and go where it says; a refusal shows
    the consult page again with the reason on the form that was sent."""

    def decorate(action: Action) -> Handler:
        @functools.wraps(action)
        async def handler(call: Call[None, PageQuery]) -> web.Response:
            form = await read_page_form(call.request)
            try:
                location = await action(call, form)
            except REFUSALS as error:
                return await consult_view(call, refused(form, error))
            return see_other(location)

        # No role gate: the service decides, so a stranger gets 404 whatever their role.
        return routes.post(CONSULT + path, summary=summary, page=True, query=PageQuery)(handler)

    return decorate


@_action("/submit", "Submit a draft consult")
async def submit_draft(call: Call[None, PageQuery], form: MultiDict[str]) -> str:
    """Send the draft to the specialty queue; the deadline starts now."""
    await _consults(call).submit(call.principal, call.audit, consult_id(call))
    return _back(call, "submitted")


@_action("/cancel", "Withdraw a consult")
async def cancel_consult(call: Call[None, PageQuery], form: MultiDict[str]) -> str:
    """The requester withdraws the request, with a reason."""
    data = _parse(s.ReasonIn, form, reason="cancel_reason")
    await _consults(call).cancel(call.principal, call.audit, consult_id(call), data)
    return _back(call, "cancelled")


@_action("/accept", "Accept a consult")
async def accept_consult(call: Call[None, PageQuery], form: MultiDict[str]) -> str:
    """Take the request from the queue (or join the specialists already on it)."""
    await _consults(call).accept(call.principal, call.audit, consult_id(call))
    return _back(call, "accepted")


@_action("/decline", "Decline a consult")
async def decline_consult(call: Call[None, PageQuery], form: MultiDict[str]) -> str:
    """Decline with a reason."""
    data = _parse(s.ReasonIn, form, reason="decline_reason")
    await _consults(call).decline(call.principal, call.audit, consult_id(call), data)
    return LIST


@_action("/request-info", "Ask the requester for information")
async def request_info(call: Call[None, PageQuery], form: MultiDict[str]) -> str:
    """The request waits on the requester until they reply or amend it."""
    data = _parse(s.InfoRequestIn, form, question="info_question")
    await _consults(call).request_info(call.principal, call.audit, consult_id(call), data)
    return _back(call, "info_requested")


@_action("/assign", "Hand over or add a colleague")
async def assign_colleague(call: Call[None, PageQuery], form: MultiDict[str]) -> str:
    """`mode=add` makes the consult multi-disciplinary; `mode=reassign` hands it over."""
    data = _parse(s.AssignIn, form, practitioner_id="practitioner_id", mode="mode")
    await _consults(call).assign(call.principal, call.audit, consult_id(call), data)
    return LIST if data.mode == "reassign" else _back(call, "assigned")


@_action("/schedule", "Schedule a live session")
async def schedule_session(call: Call[None, PageQuery], form: MultiDict[str]) -> str:
    """A time (Vietnam time) for a live session with the parties."""
    data = s.ScheduleIn(start=_local_start(call, form.get("start", "")))
    await _consults(call).schedule_session(call.principal, call.audit, consult_id(call), data)
    return _back(call, "scheduled")


def _local_start(call: Call[Any, Any], value: str) -> datetime:
    """The `datetime-local` field, read in the network's time zone."""
    try:
        start = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FormInvalid({"start": FIELD_MESSAGES["start"]}) from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=local_zone(call.request))
    return start


@_action("/messages", "Write on a consult")
async def post_message(call: Call[None, PageQuery], form: MultiDict[str]) -> str:
    """A message between the parties; the requester's reply ends an information hold."""
    data = _parse(s.MessageIn, form, text="text")
    await _consults(call).post_message(call.principal, call.audit, consult_id(call), data)
    return _back(call, "message") + "#timeline"


async def consult_view(
    call: Call[Any, Any], state: FormState, done: str | None = None
) -> web.Response:
    """The consult page, with `state` shown on the form that was sent."""
    request = call.request
    cid = consult_id(call)
    consult = await _consults(call).get(call.principal, call.audit, cid)
    me = await request.app[keys.ACCOUNTS].me(call.principal)
    specialists = await specialist_choices(request, consult.specialty)
    people = {pid: name for _, _, members in specialists for pid, name in members}
    people.update({a.practitioner_id: a.full_name for a in consult.assignees})
    context: dict[str, Any] = {
        **_abilities(call, consult, me.practitioner_id),
        "consult": consult,
        "form": state,
        "done": done,
        "local": local_time(request),
        "remaining": remaining(consult.due_at) if consult.status in OPEN_STATUSES else None,
        "specialty_names": dict(await specialty_choices(request)),
        "facility_names": dict(await facility_choices(request)),
        "people": people,
        "colleagues": [
            (pid, name)
            for _, _, members in specialists
            for pid, name in members
            # Not oneself, and not who is already on the consult.
            if pid != me.practitioner_id
            and pid not in {a.practitioner_id for a in consult.assignees}
        ],
        "timeline": [],
        "amendments": [],
        "amendment_changes": {},
        "pending_question": None,
        "opinions": [],
        "attachments": [],
        "upload": None,
        # Also after a refused action (a POST elsewhere): the language switch comes back here.
        "here": f"/consults/{cid}",
        "session_room": await _open_room_of(call, consult.room_id),
    }
    if consult.clinical:
        entries = (await _consults(call).timeline(call.principal, cid)).items
        items = timeline_view(entries, people, local_time(request))
        context["timeline"] = items
        context["amendments"] = amendments(items)
        changes = await _consults(call).amendments(call.principal, cid)
        context["amendment_changes"] = amendment_changes(changes)
        context["pending_question"] = pending_question(items)
        context["opinions"] = list(reversed(await _consults(call).opinions(call.principal, cid)))
        may_upload = context["is_requester"] or context["is_assignee"]
        context.update(await consult_files.upload_context(call, consult, may_upload=may_upload))
    return render_page(request, "consult.html", context, status=state.status)


async def _open_room_of(call: Call[Any, Any], room_id: str | None) -> str | None:
    """The consult's room if it is open now and the caller is one of its parties (the
    requesting doctor, the assigned specialists): the page links to its call page."""
    if room_id is None:
        return None
    try:
        room = await call.request.app[keys.ROOMS].view(call.principal, room_id)
    except NotFound:
        return None
    opened = room.state in {RoomState.OPEN, RoomState.LIVE} or (
        room.state == RoomState.SCHEDULED
        and room.opens_at is not None
        and room.opens_at <= timetable.clock()
    )
    return room.id if opened else None


def _abilities(
    call: Call[Any, Any], consult: s.ConsultOut, practitioner_id: str | None
) -> dict[str, bool]:
    """Which action forms to offer; the service still decides when one is sent."""
    principal = call.principal
    status = consult.status
    is_open = status in OPEN_STATUSES
    requester = consult.requester.id == principal.user_id
    assignee = practitioner_id in {a.practitioner_id for a in consult.assignees}
    specialist = principal.has(Role.SPECIALIST) and consult.clinical
    return {
        "is_requester": requester,
        "is_assignee": assignee,
        "can_edit": requester and status is ConsultStatus.DRAFT,
        "can_amend": requester and is_open,
        "can_cancel": requester and (is_open or status is ConsultStatus.DRAFT),
        "can_accept": specialist and is_open and not assignee,
        # Once taken, only the specialists working on it may decline it.
        "can_decline": specialist and is_open and (assignee or not consult.assignees),
        "can_request_info": assignee and status is ConsultStatus.ACCEPTED,
        "can_assign": assignee and (is_open or status is ConsultStatus.ANSWERED),
        "can_schedule": assignee and (is_open or status is ConsultStatus.ANSWERED),
        "can_opine": assignee and status in ANSWERABLE,
        "can_message": consult.clinical
        and principal.has(*CLINICIANS)
        and status not in (ConsultStatus.DRAFT, ConsultStatus.CANCELLED),
    }
