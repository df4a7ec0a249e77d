"""`/fhir/...`: FHIR R4 reads as `application/fhir+json`, under the JSON API's rules.

Patient follows `may_view_patient` and each read is audited (`patient.read`), as with
GET /api/v1/patients/{id}; Appointment is for its parties and audited
(`appointment.read`); Practitioner, Schedule, Slot and Organization are for anyone
signed in. Errors, an unknown resource type included, are the app's problem+json
(404 `not_found` for a record the caller may not see, exactly as for a missing one)
rather than FHIR OperationOutcomes, so every client handles one error format.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from aiohttp import web
from fhir.resources.R4B.resource import Resource
from pydantic import Field

from telehealth import keys
from telehealth.accounts.schemas import QueryIn
from telehealth.db.base import utcnow
from telehealth.errors import NotFound
from telehealth.fhir import mapping
from telehealth.fhir import systems as fs
from telehealth.views.routing import Call, Routes

routes = Routes("fhir")
ID_RE = re.compile(fs.ID_PATTERN)


class FhirQuery(QueryIn):
    """FHIR's `_format`; only JSON is served."""

    format_: Annotated[
        Literal["json", "application/json", "application/fhir+json"] | None,
        Field(alias="_format", description="Only JSON is served"),
    ] = None


def fhir_response(resource: Resource) -> web.Response:
    """A resource as `application/fhir+json`."""
    return web.Response(
        text=resource.model_dump_json(),
        content_type=fs.FHIR_JSON,
        charset="utf-8",
        headers={"Cache-Control": "private, no-store"},
    )


def _id(call: Call[Any, Any], name: str, resource_type: str) -> str:
    # A malformed id names nothing, and never reaches the database.
    value = call.path(name)
    if not ID_RE.match(value):
        raise NotFound(f"No such {resource_type}.")
    return value


@routes.get(
    "/fhir/metadata",
    summary="FHIR CapabilityStatement",
    public=True,
    query=FhirQuery,
)
async def fhir_metadata(call: Call[None, FhirQuery]) -> web.Response:
    """What the FHIR API supports (public, as FHIR clients read it before signing in)."""
    base = call.request.app[keys.SETTINGS].public_url.rstrip("/") + "/fhir"
    return fhir_response(mapping.capability_statement(base, utcnow().date()))


@routes.get(
    "/fhir/Patient/{patient_id}",
    summary="FHIR Patient",
    query=FhirQuery,
    errors=(404,),
)
async def fhir_patient(call: Call[None, FhirQuery]) -> web.Response:
    """The patient themself, admins, and staff of the home facility; audited."""
    patient_id = _id(call, "patient_id", "patient")
    record = await call.request.app[keys.ACCOUNTS].get_patient(
        call.principal, call.audit, patient_id
    )
    return fhir_response(mapping.patient(record))


@routes.get(
    "/fhir/Appointment/{appointment_id}",
    summary="FHIR Appointment",
    query=FhirQuery,
    errors=(404,),
)
async def fhir_appointment(call: Call[None, FhirQuery]) -> web.Response:
    """For the parties of the appointment only (others get 404); audited."""
    appointment_id = _id(call, "appointment_id", "appointment")
    appt = await call.request.app[keys.APPOINTMENTS].get(call.principal, call.audit, appointment_id)
    return fhir_response(mapping.appointment(appt))


@routes.get(
    "/fhir/Practitioner/{practitioner_id}",
    summary="FHIR Practitioner",
    query=FhirQuery,
    errors=(404,),
)
async def fhir_practitioner(call: Call[None, FhirQuery]) -> web.Response:
    """Any signed-in user."""
    practitioner_id = _id(call, "practitioner_id", "Practitioner")
    return fhir_response(await call.request.app[keys.FHIR].practitioner(practitioner_id))


@routes.get(
    "/fhir/Schedule/{practitioner_id}",
    summary="FHIR Schedule (one per practitioner, same id)",
    query=FhirQuery,
    errors=(404,),
)
async def fhir_schedule(call: Call[None, FhirQuery]) -> web.Response:
    """Any signed-in user."""
    practitioner_id = _id(call, "practitioner_id", "Schedule")
    return fhir_response(await call.request.app[keys.FHIR].schedule(practitioner_id))


@routes.get(
    "/fhir/Slot/{slot_id}",
    summary="FHIR Slot (`<practitioner id>-<YYYYMMDDTHHMMZ>`)",
    query=FhirQuery,
    errors=(404,),
)
async def fhir_slot(call: Call[None, FhirQuery]) -> web.Response:
    """Any signed-in user; the API's slot id with `-` in place of `_`."""
    slot_id = _id(call, "slot_id", "Slot")
    return fhir_response(await call.request.app[keys.FHIR].slot(slot_id))


@routes.get(
    "/fhir/Organization/{facility_id}",
    summary="FHIR Organization (a facility)",
    query=FhirQuery,
    errors=(404,),
)
async def fhir_organization(call: Call[None, FhirQuery]) -> web.Response:
    """Any signed-in user."""
    facility_id = _id(call, "facility_id", "Organization")
    return fhir_response(await call.request.app[keys.FHIR].organization(facility_id))
