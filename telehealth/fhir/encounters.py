"""A visit's room as a FHIR R4 Encounter: class virtual, its period, the patient and the
practitioner, the appointment, and the outcome's diagnosis (ICD-10) as a contained
Condition with the disposition as the discharge disposition.

Encounter status (room state -> FHIR ``encounter-status``): scheduled, open -> planned
(arrived once the patient's side is checked in); live -> in-progress; ended -> finished
when the visit was completed, cancelled when the appointment was cancelled or missed.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.encounter import Encounter

from telehealth.fhir import systems as fs
from telehealth.fhir.mapping import concept, instant, reference
from telehealth.rooms.schemas import EncounterFacts

ICD10 = "http://hl7.org/fhir/sid/icd-10"
DISPOSITION = "urn:telehealth:visit-disposition"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DIAGNOSIS_ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"


def _status(facts: EncounterFacts) -> str:
    if facts.state == "live":
        return "in-progress"
    if facts.state == "ended":
        completed = facts.appointment_status == "completed" or facts.outcome is not None
        return "finished" if completed else "cancelled"
    return "arrived" if facts.appointment_status == "checked_in" else "planned"


def encounter(facts: EncounterFacts) -> Encounter:
    """The Encounter of one visit (same id as its room)."""
    data: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": facts.room_id,
        "status": _status(facts),
        "class": {"system": fs.V3_ACT_CODE, "code": "VR", "display": "virtual"},
        "serviceType": concept(fs.VISIT_MODE, facts.mode, facts.mode),
        "subject": reference("Patient", facts.patient_id),
        "participant": [
            {
                "type": [concept(fs.V3_PARTICIPATION_TYPE, "PPRF", "primary performer")],
                "individual": reference("Practitioner", facts.practitioner_id),
            }
        ],
        "appointment": [reference("Appointment", facts.appointment_id)],
        "reasonCode": [{"text": facts.reason}],
    }
    period = {k: instant(v) for k, v in (("start", facts.started), ("end", facts.ended)) if v}
    if period:
        data["period"] = period
    if facts.outcome is not None:
        _add_outcome(data, facts)
    return Encounter.model_validate(data)


def _add_outcome(data: dict[str, Any], facts: EncounterFacts) -> None:
    outcome = facts.outcome
    assert outcome is not None
    data["contained"] = [
        {
            "resourceType": "Condition",
            "id": "diagnosis",
            "category": [concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
            "code": concept(ICD10, outcome.diagnosis.code, outcome.diagnosis.text),
            "subject": reference("Patient", facts.patient_id),
            "note": [{"text": outcome.summary}],
        }
    ]
    data["diagnosis"] = [
        {
            "condition": {"reference": "#diagnosis"},
            "use": concept(DIAGNOSIS_ROLE, "DD", "Discharge diagnosis"),
            "rank": 1,
        }
    ]
    data["hospitalization"] = {
        "dischargeDisposition": concept(
            DISPOSITION, outcome.disposition.value, outcome.disposition.value
        )
    }
