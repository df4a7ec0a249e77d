"""Patient records of the caller's facility, and registering a patient without a login."""

from __future__ import annotations

from typing import Any

import pydantic
from aiohttp import web

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.accounts.models import Role
from telehealth.errors import Conflict, InvalidInput
from telehealth.pages.forms import (
    FormState,
    ListQuery,
    PageQuery,
    form_failure,
    parse_form,
    read_form,
    see_other,
)
from telehealth.pages.lookups import facility_choices
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

STAFF = {Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.ADMIN}
PATIENT_EXISTS = N_("A patient with this citizen identity or health insurance number exists.")


class PatientsQuery(ListQuery):
    """Search by name, citizen identity, insurance number or phone."""

    q: str | None = pydantic.Field(default=None, max_length=100)


@routes.get("/patients", summary="Patients page", page=True, roles=STAFF, query=PatientsQuery)
async def patients_page(call: Call[None, PatientsQuery]) -> web.Response:
    """Patients of the caller's facility (admins: every facility), searchable."""
    query = s.PatientQuery(q=call.query.q or None, limit=50, cursor=call.query.cursor)
    page = await call.request.app[keys.ACCOUNTS].list_patients(call.principal, call.audit, query)
    context = {"page": page, "q": call.query.q or "", "created": call.query.created}
    return render_page(call.request, "patients.html", context)


@routes.get(
    "/patients/new", summary="Register a patient page", page=True, roles=STAFF, query=PageQuery
)
async def new_patient_page(call: Call[None, PageQuery]) -> web.Response:
    """The form to register a patient who has no login."""
    return await _patient_form(call, FormState())


@routes.post("/patients/new", summary="Register a patient", page=True, roles=STAFF, query=PageQuery)
async def new_patient_submit(call: Call[None, PageQuery]) -> web.Response:
    """Register the patient at the caller's facility (admins choose one)."""
    form = await read_form(call.request)
    try:
        data = parse_form(s.PatientCreate, form)
        accounts = call.request.app[keys.ACCOUNTS]
        await accounts.register_patient(call.principal, call.audit, data)
    except (InvalidInput, Conflict) as error:
        return await _patient_form(call, form_failure(form, error, conflict=(None, PATIENT_EXISTS)))
    return see_other("/patients?created=1")


async def _patient_form(call: Call[Any, Any], state: FormState) -> web.Response:
    # Only admins, who belong to no facility, choose where the patient is registered.
    admin = call.principal.has(Role.ADMIN)
    facilities = await facility_choices(call.request) if admin else []
    context = {"form": state, "facilities": facilities, "choose_facility": admin}
    return render_page(call.request, "patient_new.html", context, status=state.status)
