"""Identifier systems, code systems and status maps of the FHIR API, in one place.

Identifier systems
    - CCCD (citizen identity card, 12 digits): ``http://fhir.ehealth.gov.vn/core/sid/national_id``
    - BHYT (health-insurance card, 15 characters or the 10-digit code):
      ``http://fhir.ehealth.gov.vn/core/sid/insurance_number``

    Both are the NamingSystems of the Vietnamese core implementation guide (VN Core IG,
    published by Cục Công nghệ thông tin - Bộ Y tế, still a draft); the identifier
    `type` adds the HL7 v2-0203 codes NI (national identifier) and MB (member of a
    health plan) so that generic clients can tell them apart as well.
    - Facility codes and practising licence numbers are this network's own, so they
      use this project's URNs: ``urn:telehealth:sid:facility-code`` and
      ``urn:telehealth:sid:practitioner-licence``.

Code systems of our own: specialties (``urn:telehealth:specialty``), facility levels
(``urn:telehealth:facility-level``) and visit modes (``urn:telehealth:visit-mode``).

Appointment status (ours -> FHIR R4 ``appointmentstatus``)
    booked -> booked; checked_in (the patient waits in the waiting room) -> arrived;
    in_progress (admitted, the visit is under way) -> checked-in (FHIR: "pre-encounter
    work is complete and the encounter may begin"; R4 has no in-progress appointment,
    that is the Encounter's state); completed -> fulfilled; cancelled -> cancelled;
    no_show -> noshow.

Slot status: free when offered and not taken; busy when an active appointment holds
it; busy-unavailable for a past slot nobody booked (it can no longer be taken).
"""

from __future__ import annotations

from telehealth.scheduling.models import AppointmentStatus

FHIR_JSON = "application/fhir+json"
# The resources served here are the same in R4 (4.0.1) and R4B, whose models check them.
FHIR_VERSION = "4.0.1"

NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
INSURANCE_NUMBER = "http://fhir.ehealth.gov.vn/core/sid/insurance_number"
FACILITY_CODE = "urn:telehealth:sid:facility-code"
PRACTITIONER_LICENCE = "urn:telehealth:sid:practitioner-licence"

SPECIALTY = "urn:telehealth:specialty"
FACILITY_LEVEL = "urn:telehealth:facility-level"
VISIT_MODE = "urn:telehealth:visit-mode"

V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"

APPOINTMENT_STATUS: dict[AppointmentStatus, str] = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CHECKED_IN: "arrived",
    AppointmentStatus.IN_PROGRESS: "checked-in",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
}

SLOT_FREE = "free"
SLOT_BUSY = "busy"
SLOT_PAST = "busy-unavailable"

# The FHIR `id` type: our ids are UUIDs, which fit.
ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"


def fhir_slot_id(slot_id: str) -> str:
    """A slot id as a FHIR id: `_` is not allowed there, so the separator becomes `-`.

    `<practitioner id>_<YYYYMMDDTHHMMZ>` -> `<practitioner id>-<YYYYMMDDTHHMMZ>`; the
    stamp has no `-`, so the last `-` always marks where it starts.
    """
    head, _, stamp = slot_id.rpartition("_")
    return f"{head}-{stamp}"


def slot_id_of(fhir_id: str) -> str:
    """The scheduling slot id a FHIR Slot id stands for."""
    head, _, stamp = fhir_id.rpartition("-")
    return f"{head}_{stamp}"
