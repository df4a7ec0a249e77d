"""Pure mapping of a consult's rows to FHIR R4 resources, validated by `fhir.resources.R4B`.

One consult is a ServiceRequest (the question) and a Task (the specialty's work on it),
both with the consult's id; its messages are Communications, its files
DocumentReferences, and each signed version of the opinion a Composition. The
vocabulary and status maps are in `systems`; loading and access are in `consults`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.composition import Composition
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from telehealth.accounts.schemas import PatientOut, SpecialtyOut
from telehealth.consults.models import (
    ConsultAssignee,
    ConsultAttachment,
    ConsultMessage,
    ConsultOpinion,
    ConsultRequest,
    ConsultStatus,
    Urgency,
)
from telehealth.fhir import systems as fs
from telehealth.fhir.mapping import concept, instant, reference

SUMMARY_TEXT = (
    ("history", "History"),
    ("examination", "Examination"),
    ("vitals", "Vitals"),
    ("current_treatment", "Current treatment"),
    ("allergies", "Allergies"),
)


@dataclass(frozen=True)
class Person:
    """A user as FHIR names them: by their Practitioner when they have one."""

    user_id: str
    full_name: str
    practitioner_id: str | None


@dataclass(frozen=True)
class ConsultRecord:
    """Everything FHIR says about one consult, loaded in one unit of work."""

    consult: ConsultRequest
    patient: PatientOut
    specialty: SpecialtyOut
    assignees: list[ConsultAssignee]  # the lead first
    messages: list[ConsultMessage]  # oldest first
    attachments: list[ConsultAttachment]  # oldest first
    opinions: list[ConsultOpinion]  # by version
    people: dict[str, Person]  # by user id: requester, authors, uploaders, assignees
    practitioners: dict[str, Person]  # the same people by practitioner id

    @property
    def status(self) -> ConsultStatus:
        """The consult's status."""
        return ConsultStatus(self.consult.status)

    def person(self, user_id: str) -> dict[str, Any]:
        """A reference to a user: their Practitioner, else their user id and name."""
        found = self.people.get(user_id)
        if found and found.practitioner_id:
            return reference("Practitioner", found.practitioner_id, found.full_name)
        return {
            "identifier": {"system": fs.USER_ID, "value": user_id},
            "display": found.full_name if found else None,
        }

    def practitioner(self, practitioner_id: str) -> dict[str, str]:
        """A reference to a practitioner, with their name when loaded."""
        found = self.practitioners.get(practitioner_id)
        return reference("Practitioner", practitioner_id, found.full_name if found else None)

    def subject(self) -> dict[str, str]:
        """The patient the consult is about."""
        return reference("Patient", self.patient.id, self.patient.full_name)

    def request(self) -> dict[str, str]:
        """The ServiceRequest everything else is based on."""
        return reference("ServiceRequest", self.consult.id)

    def lead(self) -> ConsultAssignee | None:
        """The specialist who owns the work (the first joined if none is marked lead)."""
        return next((a for a in self.assignees if a.lead), None) or next(iter(self.assignees), None)


def _specialty(record: ConsultRecord) -> dict[str, Any]:
    sp = record.specialty
    return concept(fs.SPECIALTY, sp.code, f"{sp.name_vi} ({sp.name_en})")


def _text(value: Any) -> str | None:
    # FHIR strings may not be empty or blank: an empty field is left out.
    if not isinstance(value, str) or not value.strip():
        return None
    return value


def _vitals(summary: dict[str, Any]) -> list[dict[str, Any]]:
    vitals = summary.get("vitals")
    if not isinstance(vitals, dict):
        return []
    return [
        {
            "url": name,
            "valueQuantity": {"value": value, "unit": unit, "system": fs.UCUM, "code": unit},
        }
        for name, unit in fs.VITAL_UNITS.items()
        if isinstance(value := vitals.get(name), int | float) and not isinstance(value, bool)
    ]


def _summary_parts(summary: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(extension url, label, value) of each part given: a string, or the vitals."""
    parts: list[tuple[str, str, Any]] = []
    for key, label in SUMMARY_TEXT:
        value = _vitals(summary) if key == "vitals" else _text(summary.get(key))
        if value:
            parts.append((key.replace("_", "-"), label, value))
    return parts


def _summary_extension(summary: dict[str, Any]) -> dict[str, Any] | None:
    parts = [
        {"url": url, "extension": value}
        if isinstance(value, list)
        else {"url": url, "valueString": value}
        for url, _label, value in _summary_parts(summary)
    ]
    return {"url": fs.EXT_CASE_SUMMARY, "extension": parts} if parts else None


def _summary_note(summary: dict[str, Any]) -> str | None:
    """The case summary as text, for clients that ignore our extension."""
    lines = []
    for _url, label, value in _summary_parts(summary):
        if isinstance(value, list):
            value = ", ".join(
                f"{v['url']} {v['valueQuantity']['value']} {v['valueQuantity']['unit']}"
                for v in value
            )
        lines.append(f"{label}: {value}")
    return "\n".join(lines) or None


def service_request(record: ConsultRecord) -> ServiceRequest:
    """The consult request: who asks which specialty what about whom, and how urgently."""
    c = record.consult
    summary = c.summary if isinstance(c.summary, dict) else {}
    extensions = [
        e
        for e in (
            _summary_extension(summary),
            {"url": fs.EXT_PATIENT_PRESENT, "valueBoolean": c.patient_present},
        )
        if e
    ]
    performers = []
    if c.target_practitioner_id:
        performers.append(record.practitioner(c.target_practitioner_id))
    if c.target_facility_id:
        performers.append(reference("Organization", c.target_facility_id))
    note = _summary_note(summary)
    data: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": c.id,
        "meta": {"versionId": str(c.version), "lastUpdated": instant(c.updated_at)},
        "extension": extensions,
        "status": fs.SERVICE_REQUEST_STATUS[record.status],
        "intent": "order",
        "priority": fs.PRIORITY[Urgency(c.urgency)],
        "code": concept(*fs.CONSULTATION),
        "subject": record.subject(),
        "occurrenceDateTime": instant(c.session_at) if c.session_at else None,
        "authoredOn": instant(c.submitted_at) if c.submitted_at else None,
        "requester": record.person(c.requester_id),
        "performerType": _specialty(record),
        "performer": performers or None,
        "reasonCode": [{"text": c.question}],
        "supportingInfo": [reference("DocumentReference", a.id) for a in record.attachments]
        or None,
        "note": [{"text": note}] if note else None,
    }
    return ServiceRequest.model_validate(data)


def _task_status(record: ConsultRecord) -> str:
    status = record.status
    if status is not ConsultStatus.ACCEPTED or not record.assignees:
        return fs.TASK_STATUS[status]
    taken = min(a.joined_at for a in record.assignees)
    working = record.consult.session_at is not None or any(
        m.created_at >= taken for m in record.messages
    )
    return fs.TASK_IN_PROGRESS if working else fs.TASK_STATUS[status]


def _execution(record: ConsultRecord) -> dict[str, str] | None:
    if not record.assignees:
        return None
    c = record.consult
    period = {"start": instant(min(a.joined_at for a in record.assignees))}
    if record.status is ConsultStatus.ANSWERED and c.answered_at:
        period["end"] = instant(c.answered_at)
    elif record.status in (ConsultStatus.DECLINED, ConsultStatus.CANCELLED):
        period["end"] = instant(c.updated_at)
    return period


def task(record: ConsultRecord) -> Task:
    """Where the work on the consult stands, who owns it, and its response deadline."""
    c = record.consult
    lead = record.lead()
    closed = record.status in (ConsultStatus.DECLINED, ConsultStatus.CANCELLED)
    latest = record.opinions[-1] if record.opinions else None
    data: dict[str, Any] = {
        "resourceType": "Task",
        "id": c.id,
        "basedOn": [record.request()],
        "status": _task_status(record),
        "statusReason": {"text": c.closed_reason} if closed and c.closed_reason else None,
        "businessStatus": concept(fs.CONSULT_STATUS, c.status, fs.STATUS_TEXT[record.status]),
        "intent": "order",
        "priority": fs.PRIORITY[Urgency(c.urgency)],
        "code": concept(fs.TASK_CODE, "fulfill", "Fulfill the focal request"),
        "focus": record.request(),
        "for": record.subject(),
        "executionPeriod": _execution(record),
        "authoredOn": instant(c.submitted_at or c.created_at),
        "lastModified": instant(c.updated_at),
        "requester": record.person(c.requester_id),
        "performerType": [_specialty(record)],
        "owner": record.practitioner(lead.practitioner_id) if lead else None,
        "restriction": {"period": {"end": instant(c.due_at)}} if c.due_at else None,
        "output": [
            {
                "type": {"text": "Signed opinion (latest version)"},
                "valueReference": reference("Composition", latest.id),
            }
        ]
        if latest
        else None,
    }
    return Task.model_validate(data)


def _parties(record: ConsultRecord) -> list[dict[str, Any]]:
    refs = [record.person(record.consult.requester_id)]
    refs += [record.practitioner(a.practitioner_id) for a in record.assignees]
    return refs


def communication(record: ConsultRecord, message: ConsultMessage) -> Communication:
    """A message on the consult, sent to its other parties."""
    sender = record.person(message.author_id)
    data: dict[str, Any] = {
        "resourceType": "Communication",
        "id": message.id,
        "basedOn": [record.request()],
        "status": "completed",
        "subject": record.subject(),
        "sent": instant(message.created_at),
        "sender": sender,
        "recipient": [p for p in _parties(record) if p != sender] or None,
        "payload": [{"contentString": message.text}],
    }
    return Communication.model_validate(data)


def document_reference(
    record: ConsultRecord, attachment: ConsultAttachment, api_url: str
) -> DocumentReference:
    """A file of the consult; its content is downloaded from the JSON API.

    FHIR's `hash` is SHA-1, which we do not keep: the SHA-256 is an extension instead.
    R4 has no body site on a DocumentReference, so a DICOM body part is one of ours.
    """
    meta = attachment.meta if isinstance(attachment.meta, dict) else {}
    modality = _text(meta.get("modality"))
    body_part = _text(meta.get("body_part") or meta.get("body_part_examined"))
    kind = attachment.kind
    data: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": attachment.id,
        "extension": [{"url": fs.EXT_BODY_PART, "valueString": body_part}] if body_part else None,
        "status": "current",
        "type": concept(fs.ATTACHMENT_KIND, kind, fs.KIND_TEXT.get(kind, kind)),
        "subject": record.subject(),
        "date": instant(attachment.created_at),
        "author": [record.person(attachment.uploader_id)],
        "description": attachment.filename,
        "content": [
            {
                "attachment": {
                    "extension": [{"url": fs.EXT_SHA256, "valueString": attachment.sha256}],
                    "contentType": attachment.content_type,
                    "url": (
                        f"{api_url}/consults/{attachment.consult_id}/attachments/{attachment.id}"
                    ),
                    "size": attachment.size,
                    "title": attachment.filename,
                    "creation": instant(attachment.created_at),
                }
            }
        ],
        "context": {
            "event": [concept(fs.DICOM, modality, modality)] if modality else None,
            "related": [record.request()],
        },
    }
    return DocumentReference.model_validate(data)


def _section(key: str, title: str, text: str, entry: list[dict[str, str]] | None = None) -> Any:
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line)
    return {
        "title": title,
        "code": concept(fs.OPINION_SECTION, key, title),
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{paragraphs or "<p/>"}</div>',
        },
        "entry": entry,
    }


def _sections(opinion: ConsultOpinion) -> list[dict[str, Any]]:
    disposition = fs.DISPOSITION_TEXT.get(opinion.disposition, opinion.disposition)
    transfer = opinion.transfer_facility_id
    sections = [
        _section("assessment", "Assessment", opinion.assessment),
        _section("recommendations", "Recommendations", opinion.recommendations),
    ]
    if tests := _text(opinion.recommended_tests):
        sections.append(_section("recommended_tests", "Recommended tests", tests))
    if treatment := _text(opinion.recommended_treatment):
        sections.append(_section("recommended_treatment", "Recommended treatment", treatment))
    sections.append(
        _section(
            "disposition",
            "Disposition",
            f"{disposition} ({opinion.disposition})",
            [reference("Organization", transfer)] if transfer else None,
        )
    )
    if reason := _text(opinion.amendment_reason):
        sections.append(_section("amendment_reason", "Reason for amendment", reason))
    return sections


def composition(record: ConsultRecord, opinion: ConsultOpinion) -> Composition:
    """One signed version of the opinion; a later version replaces the one before it."""
    author = record.person(opinion.author_id)
    previous = next((o for o in record.opinions if o.version == opinion.version - 1), None)
    data: dict[str, Any] = {
        "resourceType": "Composition",
        "id": opinion.id,
        "extension": [
            {"url": fs.EXT_SHA256, "valueString": opinion.content_hash},
            {"url": fs.EXT_OPINION_VERSION, "valuePositiveInt": opinion.version},
        ],
        "identifier": {"system": fs.CONSULT_OPINION, "value": opinion.consult_id},
        "status": "amended" if opinion.version > 1 else "final",
        "type": concept(*fs.CONSULT_NOTE),
        "subject": record.subject(),
        "date": instant(opinion.signed_at),
        "author": [author],
        "title": f"Consult opinion, version {opinion.version}",
        "attester": [{"mode": "legal", "time": instant(opinion.signed_at), "party": author}],
        "relatesTo": [
            {"code": "replaces", "targetReference": reference("Composition", previous.id)}
        ]
        if previous
        else None,
        "section": _sections(opinion),
    }
    return Composition.model_validate(data)
