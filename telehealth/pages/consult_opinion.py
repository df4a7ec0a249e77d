"""The opinion form: an assigned specialist writes and signs the answer, or amends it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDict

from telehealth import keys
from telehealth.consults import schemas as s
from telehealth.consults.models import ConsultStatus, Disposition
from telehealth.errors import Forbidden, NotFound
from telehealth.pages.consult_forms import (
    FIELD_MESSAGES,
    REFUSALS,
    consult_id,
    local_time,
    refused,
    validate,
)
from telehealth.pages.forms import FormInvalid, FormState, PageQuery, see_other
from telehealth.pages.lookups import facility_choices, specialty_choices
from telehealth.pages.timetable import here, read_page_form
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import render_page

routes = Routes("pages")

OPINION = "/consults/{consult_id}/opinion"
ANSWERABLE = (ConsultStatus.ACCEPTED, ConsultStatus.INFO_REQUESTED, ConsultStatus.ANSWERED)
TEXTS = ("assessment", "recommendations", "recommended_tests", "recommended_treatment")


@routes.get(OPINION, summary="Opinion form", page=True, query=PageQuery)
async def opinion_page(call: Call[None, PageQuery]) -> web.Response:
    """The form, pre-filled from the latest version when the opinion is being amended."""
    consult, opinions = await _answerable(call)
    if consult is None:
        return see_other(f"/consults/{consult_id(call)}")
    values: dict[str, str] = {"disposition": Disposition.MANAGE_LOCALLY.value}
    if opinions:
        latest = opinions[-1]
        values = {name: getattr(latest, name) or "" for name in TEXTS}
        values["disposition"] = latest.disposition.value
        values["transfer_facility_id"] = latest.transfer_facility_id or ""
    return await _form(call, consult, opinions, FormState(values=values))


@routes.post(OPINION, summary="Sign an opinion", page=True, query=PageQuery)
async def opinion_submit(call: Call[None, PageQuery]) -> web.Response:
    """Sign the opinion as the caller; a later version needs the reason for the amendment."""
    form = await read_page_form(call.request)
    consult, opinions = await _answerable(call)
    if consult is None:
        return see_other(f"/consults/{consult_id(call)}")
    try:
        data = _opinion(form, amending=bool(opinions))
        await call.request.app[keys.CONSULTS].sign_opinion(
            call.principal, call.audit, consult.id, data
        )
    except REFUSALS as error:
        return await _form(call, consult, opinions, refused(form, error))
    return see_other(f"/consults/{consult.id}?done=signed#opinions")


def _opinion(form: MultiDict[str], *, amending: bool) -> s.OpinionIn:
    """The opinion as sent; every field at fault is named at once."""
    errors: dict[str, str] = {}
    if form.get("sign") != "1":
        errors["sign"] = FIELD_MESSAGES["sign"]
    if amending and not form.get("amendment_reason", "").strip():
        errors["amendment_reason"] = FIELD_MESSAGES["amendment_reason"]
    data: dict[str, Any] = {name: form[name] for name in TEXTS if form.get(name, "").strip()}
    data["disposition"] = form.get("disposition", "")
    if data["disposition"] == Disposition.TRANSFER.value and form.get("transfer_facility_id"):
        data["transfer_facility_id"] = form["transfer_facility_id"]
    if amending and form.get("amendment_reason", "").strip():
        data["amendment_reason"] = form["amendment_reason"]
    try:
        opinion = validate(s.OpinionIn, data)
    except FormInvalid as exc:
        raise FormInvalid({**exc.errors, **errors}) from None
    if errors:
        raise FormInvalid(errors)
    return opinion


async def _answerable(
    call: Call[Any, Any],
) -> tuple[s.ConsultOut | None, list[s.OpinionOut]]:
    """The consult and its opinions if the caller may answer it now (None: not any more)."""
    consults = call.request.app[keys.CONSULTS]
    consult = await consults.get(call.principal, call.audit, consult_id(call))
    if not consult.clinical:
        raise NotFound("No such consult.")
    me = await call.request.app[keys.ACCOUNTS].me(call.principal)
    if me.practitioner_id not in {a.practitioner_id for a in consult.assignees}:
        raise Forbidden("Accept the consult first.")
    if consult.status not in ANSWERABLE:
        return None, []
    return consult, await consults.opinions(call.principal, consult.id)


async def _form(
    call: Call[Any, Any], consult: s.ConsultOut, opinions: list[s.OpinionOut], state: FormState
) -> web.Response:
    request = call.request
    context = {
        "consult": consult,
        "latest": opinions[-1] if opinions else None,
        "form": state,
        "facilities": await facility_choices(request),
        "specialty_names": dict(await specialty_choices(request)),
        "local": local_time(request),
        "here": here(request),
    }
    return render_page(request, "consult_opinion.html", context, status=state.status)
