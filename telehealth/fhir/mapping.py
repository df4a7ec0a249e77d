"""Pure mapping of our records to FHIR R4 resources, validated by `fhir.resources.R4B`.

Each function builds the resource as JSON-shaped data and lets the R4B model check it,
so a mapping mistake (a missing required element, a malformed id or instant) fails
here, at the edge, rather than in someone else's FHIR client. Names are given as
`text` only: they are stored as one string, and splitting them into family and given
names would be a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot

from telehealth import __version__
from telehealth.accounts.schemas import FacilityOut, PatientOut, SpecialtyOut
from telehealth.fhir import systems as fs
from telehealth.scheduling.schemas import AppointmentOut

MODE_TEXT = {"video": "Telehealth video visit", "audio": "Telehealth audio-only visit"}
LEVEL_TEXT = {
    "central": "Central hospital",
    "provincial": "Provincial hospital",
    "district": "District hospital",
    "commune": "Commune health station",
}
SERVED = (
    "Appointment",
    "Communication",
    "Composition",
    "DocumentReference",
    "Encounter",
    "Organization",
    "Patient",
    "Practitioner",
    "Schedule",
    "ServiceRequest",
    "Slot",
    "Task",
)
# Search parameters per type: (name, FHIR type, what it matches).
SEARCH_PARAMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "ServiceRequest": (
        ("patient", "reference", "The patient's consults the caller takes part in"),
        ("subject", "reference", "The same as patient (Patient/<id>)"),
    ),
    "Communication": (
        ("based-on", "reference", "The messages of one consult (ServiceRequest/<id>)"),
    ),
}


@dataclass(frozen=True)
class PractitionerFacts:
    """What the Practitioner and Schedule resources say about one practitioner."""

    id: str
    full_name: str
    active: bool
    licence_number: str | None
    specialties: list[SpecialtyOut]


def instant(value: datetime) -> str:
    """A FHIR instant: whole seconds with the offset."""
    return value.replace(microsecond=0).isoformat()


def reference(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, str]:
    """A literal reference `Type/id`, with a display name if known."""
    ref = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def concept(system: str, code: str, display: str) -> dict[str, Any]:
    """A CodeableConcept of one coding, its display repeated as text."""
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _identifier(system: str, value: str, type_code: str, type_text: str) -> dict[str, Any]:
    return {
        "use": "official",
        "type": {
            "coding": [{"system": fs.V2_IDENTIFIER_TYPE, "code": type_code}],
            "text": type_text,
        },
        "system": system,
        "value": value,
    }


def patient(record: PatientOut) -> Patient:
    """A patient record: CCCD and BHYT identifiers, contact, home facility."""
    identifiers = []
    if record.national_id:
        identifiers.append(_identifier(fs.NATIONAL_ID, record.national_id, "NI", "CCCD"))
    if record.insurance_number:
        identifiers.append(_identifier(fs.INSURANCE_NUMBER, record.insurance_number, "MB", "BHYT"))
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": record.id,
        "identifier": identifiers or None,
        "active": True,
        "name": [{"use": "official", "text": record.full_name}],
        "gender": record.sex,
        "birthDate": record.date_of_birth.isoformat() if record.date_of_birth else None,
        "telecom": [{"system": "phone", "value": record.phone, "use": "mobile"}]
        if record.phone
        else None,
        "address": [{"text": record.address, "country": "VN"}] if record.address else None,
        "managingOrganization": reference("Organization", record.home_facility_id)
        if record.home_facility_id
        else None,
    }
    return Patient.model_validate(data)


def practitioner(facts: PractitionerFacts) -> Practitioner:
    """A practitioner: name, licence, whether they still practise here."""
    data: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": facts.id,
        "identifier": [{"system": fs.PRACTITIONER_LICENCE, "value": facts.licence_number}]
        if facts.licence_number
        else None,
        "active": facts.active,
        "name": [{"use": "official", "text": facts.full_name}],
    }
    return Practitioner.model_validate(data)


def organization(facility: FacilityOut) -> Organization:
    """A facility of the network, linked to the one above it (`partOf`)."""
    level = facility.level.value
    data: dict[str, Any] = {
        "resourceType": "Organization",
        "id": facility.id,
        "identifier": [{"system": fs.FACILITY_CODE, "value": facility.code}],
        "active": True,
        "type": [
            concept(fs.ORGANIZATION_TYPE, "prov", "Healthcare Provider"),
            concept(fs.FACILITY_LEVEL, level, LEVEL_TEXT.get(level, level)),
        ],
        "name": facility.name,
        "address": [{"state": facility.province, "country": "VN"}],
        "partOf": reference("Organization", facility.parent_id) if facility.parent_id else None,
    }
    return Organization.model_validate(data)


def schedule(facts: PractitionerFacts, start: datetime, end: datetime) -> Schedule:
    """A practitioner's bookable time: one Schedule per practitioner, same id."""
    data: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": facts.id,
        "active": facts.active,
        "specialty": [
            concept(fs.SPECIALTY, sp.code, f"{sp.name_vi} ({sp.name_en})")
            for sp in facts.specialties
        ]
        or None,
        "actor": [reference("Practitioner", facts.id, facts.full_name)],
        "planningHorizon": {"start": instant(start), "end": instant(end)},
    }
    return Schedule.model_validate(data)


def slot(slot_id: str, practitioner_id: str, start: datetime, end: datetime, status: str) -> Slot:
    """One slot of a practitioner's schedule and whether it can still be booked."""
    data: dict[str, Any] = {
        "resourceType": "Slot",
        "id": fs.fhir_slot_id(slot_id),
        "schedule": reference("Schedule", practitioner_id),
        "status": status,
        "start": instant(start),
        "end": instant(end),
    }
    return Slot.model_validate(data)


def appointment(appt: AppointmentOut) -> Appointment:
    """An appointment: status, who takes part, when, which slot, and why."""
    mode = appt.mode.value
    data: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": appt.id,
        "status": fs.APPOINTMENT_STATUS[appt.status],
        "cancelationReason": {"text": appt.cancel_reason} if appt.cancel_reason else None,
        "serviceType": [concept(fs.VISIT_MODE, mode, MODE_TEXT[mode])],
        "appointmentType": concept(fs.V3_ACT_CODE, "VR", "virtual"),
        "reasonCode": [{"text": appt.reason}],
        "description": MODE_TEXT[mode],
        "start": instant(appt.start),
        "end": instant(appt.end),
        "minutesDuration": int((appt.end - appt.start).total_seconds() // 60),
        "slot": [reference("Slot", fs.fhir_slot_id(appt.slot_id))],
        "created": instant(appt.created_at),
        "supportingInformation": (
            [reference("Encounter", appt.room_id, "Video visit room")] if appt.room_id else None
        ),
        "participant": [
            {
                "actor": reference("Patient", appt.patient.id, appt.patient.full_name),
                "required": "required",
                "status": "accepted",
            },
            {
                "type": [concept(fs.V3_PARTICIPATION_TYPE, "PPRF", "primary performer")],
                "actor": reference(
                    "Practitioner", appt.practitioner.id, appt.practitioner.full_name
                ),
                "required": "required",
                "status": "accepted",
            },
        ],
    }
    return Appointment.model_validate(data)


def bundle(
    kind: str,
    resources: list[Resource],
    base_url: str,
    now: datetime,
    *,
    total: int | None = None,
    self_url: str | None = None,
) -> Bundle:
    """A Bundle of `kind` (collection, searchset); each entry's fullUrl is its read URL."""
    entries = []
    for resource in resources:
        entry: dict[str, Any] = {
            "fullUrl": f"{base_url}/{resource.get_resource_type()}/{resource.id}",
            "resource": resource,
        }
        if kind == "searchset":
            entry["search"] = {"mode": "match"}
        entries.append(entry)
    data: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": kind,
        "timestamp": instant(now),
        "total": total,
        "link": [{"relation": "self", "url": self_url}] if self_url else None,
        "entry": entries or None,
    }
    return Bundle.model_validate(data)


def _served(name: str, base_url: str) -> dict[str, Any]:
    params = SEARCH_PARAMS.get(name, ())
    return {
        "type": name,
        "interaction": [{"code": "read"}, *([{"code": "search-type"}] if params else [])],
        "searchParam": [
            {"name": param, "type": kind, "documentation": text} for param, kind, text in params
        ]
        or None,
        "operation": [
            {
                "name": "everything",
                "definition": fs.EVERYTHING_OPERATION,
                "documentation": (
                    f"GET {base_url}/ServiceRequest/<id>/$everything: the whole consult "
                    "as a collection Bundle"
                ),
            }
        ]
        if name == "ServiceRequest"
        else None,
    }


def capability_statement(base_url: str, today: date) -> CapabilityStatement:
    """What this server offers: `read` of the served types, two searches, one export."""
    data: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": today.isoformat(),
        "publisher": "telehealth",
        "kind": "instance",
        "software": {"name": "telehealth", "version": __version__},
        "implementation": {"description": "telehealth FHIR read API", "url": base_url},
        "fhirVersion": fs.FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": (
                        "Sign in first: a session cookie from POST /api/v1/auth/login or "
                        "'Authorization: Bearer' with a token from POST /api/v1/auth/token. "
                        "Records the caller may not see answer 404; searches leave them out. "
                        "Searches return the first _count matches (default 100) and the total."
                    )
                },
                "resource": [_served(name, base_url) for name in SERVED],
            }
        ],
    }
    return CapabilityStatement.model_validate(data)
