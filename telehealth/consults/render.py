"""How consults look in the API: names, facility and opinion filled in, clinical content
only for those who may see it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.accounts.models import Facility, Patient, User
from telehealth.accounts.repository import AccountsRepository
from telehealth.accounts.service import facility_ref
from telehealth.consults import policy
from telehealth.consults import schemas as s
from telehealth.consults.models import (
    ConsultAssignee,
    ConsultOpinion,
    ConsultRequest,
    ConsultStatus,
)
from telehealth.consults.repository import ConsultRepository
from telehealth.scheduling.schemas import PersonRef


@dataclass(frozen=True)
class _Lookups:
    """Everything a page of consults refers to, loaded with one query per kind."""

    assignees: dict[str, list[ConsultAssignee]]
    opinions: dict[str, ConsultOpinion]
    specialists: dict[str, User]
    users: dict[str, User]
    facilities: dict[str, Facility]
    patients: dict[str, Patient]


async def render_consults(
    session: AsyncSession, consults: list[ConsultRequest], viewer: policy.Viewer
) -> list[s.ConsultOut]:
    """The API view of consults for `viewer`, loading the people and places in batches."""
    if not consults:
        return []
    repo = ConsultRepository(session)
    accounts = AccountsRepository(session)
    ids = [c.id for c in consults]
    assignees = await repo.assignees(ids)
    opinions = await repo.latest_opinions(ids)
    lookups = _Lookups(
        assignees=assignees,
        opinions=opinions,
        specialists=await repo.practitioner_users(
            {a.practitioner_id for rows in assignees.values() for a in rows}
        ),
        users=await accounts.users_by_ids(
            {c.requester_id for c in consults} | {o.author_id for o in opinions.values()}
        ),
        facilities=await accounts.facilities_by_ids({c.requesting_facility_id for c in consults}),
        patients=await repo.patients({c.patient_id for c in consults}),
    )
    return [_consult_out(c, viewer, lookups) for c in consults]


def _consult_out(c: ConsultRequest, viewer: policy.Viewer, found: _Lookups) -> s.ConsultOut:
    team = found.assignees.get(c.id, [])
    clinical = policy.access(viewer, c, {a.practitioner_id for a in team}) is policy.Access.CLINICAL
    patient = found.patients.get(c.patient_id)
    opinion = found.opinions.get(c.id)
    return s.ConsultOut(
        id=c.id,
        status=ConsultStatus(c.status),
        urgency=c.urgency,
        specialty=c.specialty_code,
        patient=consult_patient(patient) if clinical and patient else None,
        requester=PersonRef(id=c.requester_id, full_name=found.users[c.requester_id].full_name),
        requesting_facility=facility_ref(found.facilities[c.requesting_facility_id]),
        target_facility_id=c.target_facility_id,
        target_practitioner_id=c.target_practitioner_id,
        assignees=[
            s.AssigneeOut(
                practitioner_id=a.practitioner_id,
                lead=a.lead,
                full_name=found.specialists[a.practitioner_id].full_name,
            )
            for a in team
            if a.practitioner_id in found.specialists
        ],
        question=c.question if clinical else None,
        summary=c.summary if clinical else None,
        patient_present=c.patient_present,
        version=c.version,
        submitted_at=c.submitted_at,
        due_at=c.due_at,
        overdue=c.overdue_at is not None,
        answered_at=c.answered_at,
        session_at=c.session_at,
        room_id=c.room_id,
        opinion=opinion_out(opinion, found.users) if clinical and opinion else None,
        clinical=clinical,
        created_at=c.created_at,
    )


def consult_patient(patient: Patient) -> s.ConsultPatient:
    """The patient's identity and demographics, for the care team only."""
    return s.ConsultPatient(
        id=patient.id,
        full_name=patient.full_name,
        sex=patient.sex,
        date_of_birth=patient.date_of_birth,
        national_id=patient.national_id,
        insurance_number=patient.insurance_number,
    )


def opinion_out(
    opinion: ConsultOpinion, users: dict[str, User], session_room_id: str | None = None
) -> s.OpinionOut:
    """The API view of one signed opinion version (with the live session's room, if the
    opinion was signed after one)."""
    author = users.get(opinion.author_id)
    return s.OpinionOut(
        id=opinion.id,
        version=opinion.version,
        author=PersonRef(id=opinion.author_id, full_name=author.full_name if author else ""),
        assessment=opinion.assessment,
        recommendations=opinion.recommendations,
        recommended_tests=opinion.recommended_tests,
        recommended_treatment=opinion.recommended_treatment,
        disposition=opinion.disposition,
        transfer_facility_id=opinion.transfer_facility_id,
        amendment_reason=opinion.amendment_reason,
        signed_at=opinion.signed_at,
        content_hash=opinion.content_hash,
        session_room_id=session_room_id,
    )
