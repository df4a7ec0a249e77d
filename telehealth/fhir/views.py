"""`/fhir/...`: FHIR R4 reads as `application/fhir+json`, under the JSON API's rules.

Patient follows `may_view_patient` and each read is audited (`patient.read`), as with
GET /api/v1/patients/{id}; Appointment is for its parties and audited
(`appointment.read`); Practitioner, Schedule, Slot and Organization are for anyone
signed in. The consult resources (ServiceRequest, Task, Communication,
DocumentReference, Composition, the `$everything` export) are for the consult's
clinical parties and audited (`consult.read`); searches leave out what the caller may
not see. Errors, an unknown resource type included, are the app's problem+json
(404 `not_found` for a record the caller may not see, exactly as for a missing one)
rather than FHIR OperationOutcomes, so every client handles one error format.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from aiohttp import web
from fhir.resources.R4B.resource import Resource
from pydantic import Field, model_validator

from telehealth import keys
from telehealth.accounts.schemas import QueryIn
from telehealth.db.base import utcnow
from telehealth.errors import NotFound
from telehealth.fhir import encounters, mapping
from telehealth.fhir import systems as fs
from telehealth.fhir.consults import FhirConsults
from telehealth.views.routing import Call, Routes

routes = Routes("fhir")
ID_RE = re.compile(fs.ID_PATTERN)


class FhirQuery(QueryIn):
    """FHIR's `_format`; only JSON is served."""

    format_: Annotated[
        Literal["json", "application/json", "application/fhir+json"] | None,
        Field(alias="_format", description="Only JSON is served"),
    ] = None


PATIENT_REF = r"^(Patient/)?[A-Za-z0-9\-.]{1,64}$"
REQUEST_REF = r"^(ServiceRequest/)?[A-Za-z0-9\-.]{1,64}$"
Count = Annotated[int, Field(alias="_count", ge=1, le=500, description="At most this many matches")]


class RequestSearch(FhirQuery):
    """`patient` or `subject`: a patient's consults."""

    patient: Annotated[
        str | None, Field(pattern=PATIENT_REF, description="Patient id or Patient/<id>")
    ] = None
    subject: Annotated[
        str | None, Field(pattern=PATIENT_REF, description="The same as patient")
    ] = None
    count: Count = 100

    @model_validator(mode="after")
    def _one_patient(self) -> RequestSearch:
        if (self.patient is None) == (self.subject is None):
            raise ValueError("give either patient or subject")
        return self

    @property
    def patient_id(self) -> str:
        """The patient id searched for."""
        return str(self.patient or self.subject).removeprefix("Patient/")


class MessageSearch(FhirQuery):
    """`based-on`: the messages of one consult."""

    based_on: Annotated[
        str,
        Field(alias="based-on", pattern=REQUEST_REF, description="ServiceRequest/<id> or <id>"),
    ]
    count: Count = 100


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


async def _patient(call: Call[Any, Any], patient_id: str) -> Resource:
    """The patient themself, admins, and staff of the home facility; audited."""
    accounts = call.request.app[keys.ACCOUNTS]
    return mapping.patient(await accounts.get_patient(call.principal, call.audit, patient_id))


async def _appointment(call: Call[Any, Any], appointment_id: str) -> Resource:
    """For the parties of the appointment only (others get 404); audited."""
    appointments = call.request.app[keys.APPOINTMENTS]
    return mapping.appointment(await appointments.get(call.principal, call.audit, appointment_id))


async def _encounter(call: Call[Any, Any], room_id: str) -> Resource:
    """A visit's room as an Encounter, for the visit's parties only (others 404); audited."""
    rooms = call.request.app[keys.ROOMS]
    return encounters.encounter(await rooms.encounter(call.principal, call.audit, room_id))


async def _practitioner(call: Call[Any, Any], practitioner_id: str) -> Resource:
    """Any signed-in user."""
    return await call.request.app[keys.FHIR].practitioner(practitioner_id)


async def _schedule(call: Call[Any, Any], practitioner_id: str) -> Resource:
    """Any signed-in user."""
    return await call.request.app[keys.FHIR].schedule(practitioner_id)


async def _slot(call: Call[Any, Any], slot_id: str) -> Resource:
    """Any signed-in user; the API's slot id with `-` in place of `_`."""
    return await call.request.app[keys.FHIR].slot(slot_id)


async def _organization(call: Call[Any, Any], facility_id: str) -> Resource:
    """Any signed-in user."""
    return await call.request.app[keys.FHIR].organization(facility_id)


def _consults(call: Call[Any, Any]) -> FhirConsults:
    app = call.request.app
    return FhirConsults(app[keys.SESSIONMAKER], app[keys.SETTINGS].public_url)


async def _service_request(call: Call[Any, Any], consult_id: str) -> Resource:
    """A consult request, for its clinical parties (others get 404); audited."""
    return await _consults(call).service_request(call.principal, call.audit, consult_id)


async def _task(call: Call[Any, Any], consult_id: str) -> Resource:
    """The work on a consult, for its clinical parties (others get 404); audited."""
    return await _consults(call).task(call.principal, call.audit, consult_id)


async def _communication(call: Call[Any, Any], message_id: str) -> Resource:
    """A consult message, for the consult's clinical parties; audited."""
    return await _consults(call).communication(call.principal, call.audit, message_id)


async def _document_reference(call: Call[Any, Any], attachment_id: str) -> Resource:
    """A consult attachment, for the consult's clinical parties; audited."""
    return await _consults(call).document_reference(call.principal, call.audit, attachment_id)


async def _composition(call: Call[Any, Any], opinion_id: str) -> Resource:
    """One signed opinion version, for the consult's clinical parties; audited."""
    return await _consults(call).composition(call.principal, call.audit, opinion_id)


Loader = Callable[[Call[Any, Any], str], Awaitable[Resource]]


@dataclass(frozen=True)
class FhirRead:
    """One `GET /fhir/<type>/{<param>}`: the loader decides who may read what."""

    resource_type: str
    param: str
    summary: str
    load: Loader

    def declare(self) -> None:
        """Add the read to `routes`, its handler named after the type (the operation id)."""

        async def handler(call: Call[None, FhirQuery]) -> web.Response:
            value = _id(call, self.param, self.resource_type)
            return fhir_response(await self.load(call, value))

        handler.__name__ = "fhir_" + re.sub(r"(?<!^)(?=[A-Z])", "_", self.resource_type).lower()
        handler.__doc__ = self.load.__doc__
        routes.get(
            f"/fhir/{self.resource_type}/{{{self.param}}}",
            summary=self.summary,
            query=FhirQuery,
            errors=(404,),
        )(handler)


READS = (
    FhirRead("Patient", "patient_id", "FHIR Patient", _patient),
    FhirRead("Appointment", "appointment_id", "FHIR Appointment", _appointment),
    FhirRead("Encounter", "room_id", "FHIR Encounter (a visit's room, same id)", _encounter),
    FhirRead("Practitioner", "practitioner_id", "FHIR Practitioner", _practitioner),
    FhirRead(
        "Schedule", "practitioner_id", "FHIR Schedule (one per practitioner, same id)", _schedule
    ),
    FhirRead("Slot", "slot_id", "FHIR Slot (`<practitioner id>-<YYYYMMDDTHHMMZ>`)", _slot),
    FhirRead("Organization", "facility_id", "FHIR Organization (a facility)", _organization),
    FhirRead("ServiceRequest", "consult_id", "FHIR ServiceRequest (a consult)", _service_request),
    FhirRead("Task", "consult_id", "FHIR Task (the work on a consult)", _task),
    FhirRead(
        "Communication", "message_id", "FHIR Communication (a consult message)", _communication
    ),
    FhirRead(
        "DocumentReference",
        "attachment_id",
        "FHIR DocumentReference (a consult attachment)",
        _document_reference,
    ),
    FhirRead(
        "Composition", "opinion_id", "FHIR Composition (a signed opinion version)", _composition
    ),
)
for read in READS:
    read.declare()


@routes.get(
    "/fhir/ServiceRequest/{consult_id}/$everything",
    summary="FHIR export of a whole consult (collection Bundle)",
    query=FhirQuery,
    errors=(404,),
)
async def fhir_consult_everything(call: Call[None, FhirQuery]) -> web.Response:
    """The request, its Task, patient, practitioners, organizations, messages, files and
    opinions, for the consult's clinical parties; audited."""
    consult_id = _id(call, "consult_id", "ServiceRequest")
    bundle = await _consults(call).everything(call.principal, call.audit, consult_id)
    return fhir_response(bundle)


@routes.get(
    "/fhir/ServiceRequest",
    summary="FHIR search: a patient's consults",
    query=RequestSearch,
)
async def fhir_search_service_requests(call: Call[None, RequestSearch]) -> web.Response:
    """The patient's consults the caller may see (none is no error), newest first."""
    query = call.query
    bundle = await _consults(call).search_requests(
        call.principal, call.audit, query.patient_id, query.count
    )
    return fhir_response(bundle)


@routes.get(
    "/fhir/Communication",
    summary="FHIR search: the messages of a consult",
    query=MessageSearch,
)
async def fhir_search_communications(call: Call[None, MessageSearch]) -> web.Response:
    """The consult's messages, oldest first; none if the caller may not see it."""
    query = call.query
    consult_id = query.based_on.removeprefix("ServiceRequest/")
    bundle = await _consults(call).search_messages(
        call.principal, call.audit, consult_id, query.count
    )
    return fhir_response(bundle)
