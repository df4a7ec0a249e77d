"""Filing a consult request with the form, editing a draft, amending a submitted request."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from telehealth import keys
from telehealth.accounts import schemas as accounts_schemas
from telehealth.accounts.models import Role
from telehealth.consults import schemas as s
from telehealth.consults.models import OPEN_STATUSES, ConsultStatus
from telehealth.errors import Forbidden, NotFound
from telehealth.pages import consult_files
from telehealth.pages.consult_forms import (
    REFUSALS,
    CaseChanges,
    CaseIn,
    case_data,
    case_summary,
    case_values,
    consult_id,
    deadline_minutes,
    refused,
    specialist_choices,
    validate,
)
from telehealth.pages.forms import FormInvalid, FormState, PageQuery, see_other
from telehealth.pages.lookups import facility_choices, specialty_choices
from telehealth.pages.timetable import FilterQuery, QueryId, QueryText, here, read_page_form
from telehealth.views.i18n import locale_of
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

DOCTORS = {Role.DOCTOR}
PATIENT_CHOICES = 50
CONSULT = "/consults/{consult_id}"
NOT_AT_FACILITY = N_("Choose one of your facility's patients.")
NOTHING_CHANGED = N_("Change at least one field of the request, or go back to it.")


class NewConsultQuery(FilterQuery):
    """The patient the request is for, or a search over the facility's patients."""

    patient_id: QueryId | None = None
    q: QueryText | None = None


class DraftQuery(PageQuery):
    """What was just done to the draft, to confirm it."""

    done: Literal["saved", "attach"] | None = None


class AmendIn(CaseChanges):
    """An amendment as the form sends it: every amendable field, and why."""

    note: Annotated[str, Field(min_length=1, max_length=2000)]


@routes.get(
    "/consults/new",
    summary="Consult request form",
    page=True,
    roles=DOCTORS,
    query=NewConsultQuery,
)
async def new_consult_page(call: Call[None, NewConsultQuery]) -> web.Response:
    """The form; the patient is fixed when `patient_id` is given, else chosen in a list."""
    state = FormState(values={"urgency": "routine"})
    return await _new_form(call, state, call.query.patient_id, call.query.q or "")


@routes.post(
    "/consults/new", summary="File a consult request", page=True, roles=DOCTORS, query=PageQuery
)
async def new_consult_submit(call: Call[None, PageQuery]) -> web.Response:
    """Save a draft or submit to the specialty queue, then show it."""
    form = await read_page_form(call.request)
    action = form.get("action")
    # "Add files" keeps the request as a draft: files attach to a consult that exists.
    draft = action in {"draft", "attach"}
    patient = form.get("patient_id", "").strip()
    try:
        data = validate(
            s.ConsultCreate,
            {**case_data(form), "draft": draft, **({"patient_id": patient} if patient else {})},
        )
        consult = await call.request.app[keys.CONSULTS].file(call.principal, call.audit, data)
    except NotFound:
        state = FormState.of(form)
        state.errors, state.status = {"patient_id": NOT_AT_FACILITY}, 400
        return await _new_form(call, state, None, form.get("q", ""))
    except REFUSALS as error:
        fixed = patient if form.get("patient_fixed") == "1" else None
        return await _new_form(call, refused(form, error), fixed, form.get("q", ""))
    if action == "attach":
        return see_other(f"/consults/{consult.id}/edit?done=attach#attachments")
    if draft:
        return see_other(f"/consults/{consult.id}/edit?done=saved")
    return see_other(f"/consults/{consult.id}?done=submitted")


@routes.get(CONSULT + "/edit", summary="Edit a draft consult page", page=True, query=DraftQuery)
async def edit_draft_page(call: Call[None, DraftQuery]) -> web.Response:
    """The draft in the request form, with its attachments; a submitted one is shown instead."""
    consult = await _get(call)
    if consult.status is not ConsultStatus.DRAFT:
        return see_other(f"/consults/{consult.id}")
    state = FormState(values=case_values(consult, locale_of(call.request)))
    return await draft_view(call, state, consult, done=call.query.done)


@routes.post(CONSULT + "/edit", summary="Save or submit a draft", page=True, query=PageQuery)
async def edit_draft_submit(call: Call[None, PageQuery]) -> web.Response:
    """Save the draft's fields; `action=submit` then sends it to the specialty queue."""
    form = await read_page_form(call.request)
    submit = form.get("action") == "submit"
    consults = call.request.app[keys.CONSULTS]
    cid = consult_id(call)
    try:
        case = validate(CaseIn, case_data(form))
        changes = s.ConsultDraftUpdate.model_validate(case.model_dump(mode="json"), strict=False)
        await consults.update_draft(call.principal, call.audit, cid, changes)
        if submit:
            await consults.submit(call.principal, call.audit, cid)
    except REFUSALS as error:
        return await draft_view(call, refused(form, error))
    if submit:
        return see_other(f"/consults/{cid}?done=submitted")
    return see_other(f"/consults/{cid}/edit?done=saved")


@routes.get(CONSULT + "/amend", summary="Amend a consult request page", page=True, query=PageQuery)
async def amend_page(call: Call[None, PageQuery]) -> web.Response:
    """The submitted request in the form, to change it with a reason."""
    consult = await _get(call)
    if consult.status not in OPEN_STATUSES:
        return see_other(f"/consults/{consult.id}")
    return await _amend_form(
        call, consult, FormState(values=case_values(consult, locale_of(call.request)))
    )


@routes.post(CONSULT + "/amend", summary="Amend a consult request", page=True, query=PageQuery)
async def amend_submit(call: Call[None, PageQuery]) -> web.Response:
    """A new version with what changed and why; the previous one stays readable."""
    form = await read_page_form(call.request)
    consult = await _get(call)
    try:
        amended = validate(AmendIn, {**case_data(form), "note": form.get("note", "")})
        changes = _changed(consult, amended)
        if not changes:
            raise FormInvalid({}, NOTHING_CHANGED)
        data = validate(s.ConsultAmend, {**changes, "note": amended.note})
        await call.request.app[keys.CONSULTS].amend(call.principal, call.audit, consult.id, data)
    except REFUSALS as error:
        return await _amend_form(call, consult, refused(form, error))
    return see_other(f"/consults/{consult.id}?done=amended")


def _changed(consult: s.ConsultOut, amended: AmendIn) -> dict[str, Any]:
    """The amendable fields whose new value differs from the current one."""
    current = CaseChanges(
        question=consult.question or "-",
        urgency=consult.urgency,
        summary=case_summary(consult),
        patient_present=consult.patient_present,
    ).model_dump(mode="json")
    new = amended.model_dump(mode="json", exclude={"note"})
    return {name: value for name, value in new.items() if value != current[name]}


async def _get(call: Call[Any, Any]) -> s.ConsultOut:
    """The consult if the caller filed it; the care team may read it but not change it."""
    consult = await call.request.app[keys.CONSULTS].get(
        call.principal, call.audit, consult_id(call)
    )
    if not consult.clinical:
        raise NotFound("No such consult.")
    if consult.requester.id != call.principal.user_id:
        raise Forbidden("Only the requesting doctor can change this request.")
    return consult


async def _choices(call: Call[Any, Any]) -> dict[str, Any]:
    request = call.request
    return {
        "specialties": await specialty_choices(request),
        "facilities": await facility_choices(request),
        "specialists": await specialist_choices(request, exclude_user=call.principal.user_id),
        "deadlines": deadline_minutes(request),
        "here": here(request),
    }


async def _new_form(
    call: Call[Any, Any], state: FormState, patient_id: str | None, q: str
) -> web.Response:
    accounts = call.request.app[keys.ACCOUNTS]
    context: dict[str, Any] = {"mode": "new", "consult": None, "patient": None, "q": q}
    if patient_id:
        context["patient"] = await accounts.get_patient(call.principal, call.audit, patient_id)
        state.values["patient_id"] = patient_id
    else:
        query = accounts_schemas.PatientQuery(q=q or None, limit=PATIENT_CHOICES)
        page = await accounts.list_patients(call.principal, call.audit, query)
        context["candidates"] = [
            (
                p.id,
                f"{p.full_name} ({p.date_of_birth:%d/%m/%Y})" if p.date_of_birth else p.full_name,
            )
            for p in page.items
        ]
    context.update(await _choices(call), form=state, action="/consults/new")
    return render_page(call.request, "consult_form.html", context, status=state.status)


async def draft_view(
    call: Call[Any, Any],
    state: FormState,
    consult: s.ConsultOut | None = None,
    done: str | None = None,
) -> web.Response:
    """The draft's form with its files, showing `state` (values, errors, a message)."""
    consult = consult or await _get(call)
    context: dict[str, Any] = {
        **await _choices(call),
        **await consult_files.upload_context(call, consult, may_upload=True, back="edit"),
        "mode": "edit",
        "consult": consult,
        "form": state,
        "done": done,
        "action": f"/consults/{consult.id}/edit",
    }
    return render_page(call.request, "consult_form.html", context, status=state.status)


async def _amend_form(
    call: Call[Any, Any], consult: s.ConsultOut, state: FormState
) -> web.Response:
    context: dict[str, Any] = {
        **await _choices(call),
        "mode": "amend",
        "consult": consult,
        "form": state,
        "action": f"/consults/{consult.id}/amend",
    }
    return render_page(call.request, "consult_form.html", context, status=state.status)
