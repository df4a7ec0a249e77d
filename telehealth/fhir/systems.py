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

Consults are two resources with the consult's id: the ServiceRequest (what the doctor
asks) and the Task (where the specialty's work on it stands). Our exact status rides
along as the Task's `businessStatus` (``urn:telehealth:consult-status``).

ServiceRequest status: draft -> draft; submitted, accepted, info_requested -> active;
answered -> completed; declined, cancelled -> revoked (the request ends unanswered).

Task status: draft -> draft; submitted -> requested; accepted -> accepted while the
specialist has only taken it, in-progress once work shows (a message since it was
taken, or a session scheduled); info_requested -> on-hold (it waits on the
requester); answered -> completed; declined -> rejected; cancelled -> cancelled.

Priority (ours -> FHIR ``request-priority``): routine -> routine, urgent -> urgent,
emergency -> stat.

Extensions and code systems of our own are ``urn:telehealth:...`` URNs: they are
defined by this network and by nothing a client could resolve.
"""

from __future__ import annotations

from telehealth.consults.models import ConsultStatus, Urgency
from telehealth.scheduling.models import AppointmentStatus

FHIR_JSON = "application/fhir+json"
# The resources served here are the same in R4 (4.0.1) and R4B, whose models check them.
FHIR_VERSION = "4.0.1"

NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
INSURANCE_NUMBER = "http://fhir.ehealth.gov.vn/core/sid/insurance_number"
FACILITY_CODE = "urn:telehealth:sid:facility-code"
PRACTITIONER_LICENCE = "urn:telehealth:sid:practitioner-licence"
# A signed-in user without a practitioner profile is named by their user id.
USER_ID = "urn:telehealth:sid:user"
# All versions of a consult's opinion share this identifier: the consult id.
CONSULT_OPINION = "urn:telehealth:sid:consult-opinion"

SPECIALTY = "urn:telehealth:specialty"
FACILITY_LEVEL = "urn:telehealth:facility-level"
VISIT_MODE = "urn:telehealth:visit-mode"
CONSULT_STATUS = "urn:telehealth:consult-status"
OPINION_SECTION = "urn:telehealth:opinion-section"
DISPOSITION = "urn:telehealth:disposition"
ATTACHMENT_KIND = "urn:telehealth:attachment-kind"

EXT_CASE_SUMMARY = "urn:telehealth:fhir:extension:case-summary"
EXT_PATIENT_PRESENT = "urn:telehealth:fhir:extension:patient-present"
EXT_SHA256 = "urn:telehealth:fhir:extension:sha256"
EXT_BODY_PART = "urn:telehealth:fhir:extension:body-part-examined"
EXT_OPINION_VERSION = "urn:telehealth:fhir:extension:opinion-version"
EVERYTHING_OPERATION = "urn:telehealth:fhir:OperationDefinition:ServiceRequest-everything"

V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"

APPOINTMENT_STATUS: dict[AppointmentStatus, str] = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CHECKED_IN: "arrived",
    AppointmentStatus.IN_PROGRESS: "checked-in",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
}

SERVICE_REQUEST_STATUS: dict[ConsultStatus, str] = {
    ConsultStatus.DRAFT: "draft",
    ConsultStatus.SUBMITTED: "active",
    ConsultStatus.ACCEPTED: "active",
    ConsultStatus.INFO_REQUESTED: "active",
    ConsultStatus.ANSWERED: "completed",
    ConsultStatus.DECLINED: "revoked",
    ConsultStatus.CANCELLED: "revoked",
}
# ACCEPTED is "accepted" or "in-progress": see the module docstring.
TASK_STATUS: dict[ConsultStatus, str] = {
    ConsultStatus.DRAFT: "draft",
    ConsultStatus.SUBMITTED: "requested",
    ConsultStatus.ACCEPTED: "accepted",
    ConsultStatus.INFO_REQUESTED: "on-hold",
    ConsultStatus.ANSWERED: "completed",
    ConsultStatus.DECLINED: "rejected",
    ConsultStatus.CANCELLED: "cancelled",
}
TASK_IN_PROGRESS = "in-progress"
PRIORITY: dict[Urgency, str] = {
    Urgency.ROUTINE: "routine",
    Urgency.URGENT: "urgent",
    Urgency.EMERGENCY: "stat",
}

STATUS_TEXT = {
    ConsultStatus.DRAFT: "Draft",
    ConsultStatus.SUBMITTED: "Submitted, waiting in the specialty queue",
    ConsultStatus.ACCEPTED: "Accepted by a specialist",
    ConsultStatus.INFO_REQUESTED: "Waiting on the requester for information",
    ConsultStatus.ANSWERED: "Answered with a signed opinion",
    ConsultStatus.DECLINED: "Declined",
    ConsultStatus.CANCELLED: "Cancelled by the requester",
}
DISPOSITION_TEXT = {
    "manage_locally": "Manage locally",
    "transfer": "Transfer",
    "follow_up_consult": "Follow-up consult",
    "admit": "Admit",
}
KIND_TEXT = {"image": "Image", "pdf": "PDF document", "dicom": "DICOM image"}
# Vital signs of the case summary with their UCUM units.
VITAL_UNITS = {
    "temperature_c": "Cel",
    "heart_rate": "/min",
    "respiratory_rate": "/min",
    "systolic_bp": "mm[Hg]",
    "diastolic_bp": "mm[Hg]",
    "spo2": "%",
    "weight_kg": "kg",
    "blood_glucose_mmol": "mmol/L",
}
CONSULTATION = (SNOMED, "11429006", "Consultation")
CONSULT_NOTE = (LOINC, "11488-4", "Consult note")

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
