"""A practitioner's weekly hours, one-off absences, and the bookings they no longer cover.

Changing the hours never cancels anything: appointments left outside them are listed as
conflicts, with links to move or cancel each one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pydantic
from aiohttp import web
from multidict import MultiDict

from telehealth import keys
from telehealth.errors import InvalidInput
from telehealth.pages.availability_form import RuleRow, parse_rules, rows_from_form, rows_of
from telehealth.pages.forms import FormInvalid, FormState, PageQuery, see_other
from telehealth.pages.schedule import SCHEDULERS, chosen_practitioner, practitioner_choices
from telehealth.pages.timetable import (
    FilterQuery,
    QueryId,
    checked_id,
    here,
    page_url,
    read_page_form,
)
from telehealth.scheduling import schemas as s
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

OVERLAP = N_("Two working hours on the same day overlap. Change one of them.")
BLOCK_TIMES = N_("Enter the start and the end of the absence, the end after the start.")
BLOCK_REASON = N_("The reason can have at most 200 characters.")


class AvailabilityQuery(FilterQuery):
    """Whose availability (coordinators), and what was just saved."""

    practitioner_id: QueryId | None = None
    saved: Literal["rules", "block", "unblock"] | None = None


async def _whose(call: Call[Any, Any], wanted: str | None) -> dict[str, Any]:
    me = await call.request.app[keys.ACCOUNTS].me(call.principal)
    choices = await practitioner_choices(call)
    practitioner_id = chosen_practitioner(me, choices, wanted)
    names = dict(choices)
    if me.practitioner_id:
        names[me.practitioner_id] = me.full_name
    return {
        "choices": choices,
        "practitioner_id": practitioner_id,
        "practitioner_name": names.get(practitioner_id or "", ""),
    }


@routes.get(
    "/availability",
    summary="Availability page",
    page=True,
    roles=SCHEDULERS,
    query=AvailabilityQuery,
)
async def availability_page(call: Call[None, AvailabilityQuery]) -> web.Response:
    """The weekly hours form, the absences, and the conflicts."""
    whose = await _whose(call, call.query.practitioner_id)
    if whose["practitioner_id"] is None:
        return _render(call, whose, None)
    out = await _availability(call, whose["practitioner_id"])
    rows, values = rows_of(out.rules)
    return _render(call, whose, out, rules=(rows, FormState(values=values)), saved=call.query.saved)


@routes.post(
    "/availability/rules", summary="Save weekly hours", page=True, roles=SCHEDULERS, query=PageQuery
)
async def rules_submit(call: Call[None, PageQuery]) -> web.Response:
    """Replace the weekly hours with the form's rows."""
    form = await read_page_form(call.request)
    practitioner_id = checked_id(form.get("practitioner_id", ""), "No such practitioner schedule.")
    rows = rows_from_form(form)
    try:
        data = parse_rules(form, rows)
        await call.request.app[keys.AVAILABILITY].set_availability(
            call.principal, call.audit, practitioner_id, data
        )
    except InvalidInput as error:
        state = _refused(form, error, OVERLAP)
        whose = await _whose(call, practitioner_id)
        out = await _availability(call, practitioner_id)
        return _render(call, whose, out, rules=(rows, state), status=state.status)
    return see_other(page_url("/availability", practitioner_id=practitioner_id, saved="rules"))


@routes.post(
    "/availability/blocks", summary="Add an absence", page=True, roles=SCHEDULERS, query=PageQuery
)
async def block_submit(call: Call[None, PageQuery]) -> web.Response:
    """Block time off (leave, a holiday); bookings inside it become conflicts."""
    form = await read_page_form(call.request)
    practitioner_id = checked_id(form.get("practitioner_id", ""), "No such practitioner schedule.")
    out = await _availability(call, practitioner_id)
    try:
        block = _parse_block(form, ZoneInfo(out.timezone))
        await call.request.app[keys.AVAILABILITY].add_block(
            call.principal, call.audit, practitioner_id, block
        )
    except InvalidInput as error:
        state = _refused(form, error, BLOCK_TIMES)
        whose = await _whose(call, practitioner_id)
        rows, values = rows_of(out.rules)
        rules = (rows, FormState(values=values))
        return _render(call, whose, out, rules=rules, block=state, status=state.status)
    return see_other(page_url("/availability", practitioner_id=practitioner_id, saved="block"))


@routes.post(
    "/availability/blocks/{block_id}/delete",
    summary="Remove an absence",
    page=True,
    roles=SCHEDULERS,
    query=PageQuery,
)
async def unblock_submit(call: Call[None, PageQuery]) -> web.Response:
    """Offer the time again."""
    form = await read_page_form(call.request)
    practitioner_id = checked_id(form.get("practitioner_id", ""), "No such practitioner schedule.")
    block_id = checked_id(call.path("block_id"), "No such block.")
    await call.request.app[keys.AVAILABILITY].remove_block(
        call.principal, call.audit, practitioner_id, block_id
    )
    return see_other(page_url("/availability", practitioner_id=practitioner_id, saved="unblock"))


async def _availability(call: Call[Any, Any], practitioner_id: str) -> s.AvailabilityOut:
    return await call.request.app[keys.AVAILABILITY].availability(
        call.principal, checked_id(practitioner_id, "No such practitioner schedule.")
    )


def _parse_block(form: MultiDict[str], tz: ZoneInfo) -> s.BlockIn:
    """The absence from the form's local date-times (a `datetime-local` has no offset)."""
    try:
        start, end = (
            datetime.fromisoformat(form.get(name, "").strip()) for name in ("start", "end")
        )
    except ValueError:
        raise FormInvalid({"block": BLOCK_TIMES}) from None
    data = {
        "start": start if start.tzinfo else start.replace(tzinfo=tz),
        "end": end if end.tzinfo else end.replace(tzinfo=tz),
        "reason": form.get("reason", "").strip() or None,
    }
    try:
        return s.BlockIn.model_validate(data, strict=False)
    except pydantic.ValidationError as exc:
        reason = any(e["loc"] and e["loc"][0] == "reason" for e in exc.errors())
        raise FormInvalid({"block": BLOCK_REASON if reason else BLOCK_TIMES}) from None


def _refused(form: MultiDict[str], error: InvalidInput, otherwise: str) -> FormState:
    state = FormState.of(form)
    state.status = 400
    if isinstance(error, FormInvalid):
        state.errors, state.message = error.errors, error.message
    else:
        state.message = otherwise
    return state


def _render(
    call: Call[Any, Any],
    whose: dict[str, Any],
    out: s.AvailabilityOut | None,
    *,
    rules: tuple[list[RuleRow], FormState] | None = None,
    block: FormState | None = None,
    saved: str | None = None,
    status: int = 200,
) -> web.Response:
    rows, rules_form = rules or ([], FormState())
    context = {
        **whose,
        "availability": out,
        "rows": rows,
        "form": rules_form,
        "block_form": block or FormState(),
        "saved": saved,
        "here": here(call.request),
    }
    return render_page(call.request, "availability.html", context, status=status)
