"""Read-only SQL behind the FHIR view of consults.

The consult feature's own repository is for its use cases; these are the joins the FHIR
mapping needs (a whole consult with the people and facilities it names), kept apart so
neither has to grow for the other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.accounts.models import (
    Facility,
    Patient,
    Practitioner,
    PractitionerSpecialty,
    Specialty,
    User,
)
from telehealth.accounts.schemas import FacilityOut, SpecialtyOut
from telehealth.accounts.service import patient_out
from telehealth.auth.principal import Principal
from telehealth.consults import policy
from telehealth.consults.models import (
    ConsultAssignee,
    ConsultAttachment,
    ConsultMessage,
    ConsultOpinion,
    ConsultRequest,
)
from telehealth.consults.repository import load_viewer
from telehealth.fhir import consult_resources as cr
from telehealth.fhir import mapping

Row = ConsultMessage | ConsultAttachment | ConsultOpinion


class ConsultRows:
    """Read-only SQL behind the FHIR view of consults, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def viewer(self, principal: Principal) -> policy.Viewer:
        """What the consult policy needs to know about the caller."""
        return await load_viewer(self.session, principal)

    async def patient(self, patient_id: str) -> Patient | None:
        """A patient record (already loaded with the consult's record: no second query)."""
        return await self.session.get(Patient, patient_id)

    async def consult(self, consult_id: str) -> ConsultRequest | None:
        """One consult request."""
        return await self.session.get(ConsultRequest, consult_id)

    async def consult_id_of(self, model: type[Row], row_id: str) -> str | None:
        """The consult a message, attachment or opinion belongs to."""
        found: str | None = await self.session.scalar(
            select(model.consult_id).where(model.id == row_id)
        )
        return found

    async def consults_of_patient(self, patient_id: str) -> list[ConsultRequest]:
        """A patient's consults, newest first."""
        rows = await self.session.scalars(
            select(ConsultRequest)
            .where(ConsultRequest.patient_id == patient_id)
            .order_by(ConsultRequest.created_at.desc(), ConsultRequest.id)
        )
        return list(rows.all())

    async def assignees(self, consult_ids: list[str]) -> dict[str, list[ConsultAssignee]]:
        """Assigned specialists per consult, the lead first."""
        rows = await self.session.scalars(
            select(ConsultAssignee)
            .where(ConsultAssignee.consult_id.in_(consult_ids))
            .order_by(ConsultAssignee.lead.desc(), ConsultAssignee.joined_at)
        )
        out: dict[str, list[ConsultAssignee]] = {}
        for row in rows.all():
            out.setdefault(row.consult_id, []).append(row)
        return out

    async def _of_consult(self, model: type[Row], consult_id: str, *order: Any) -> list[Any]:
        rows = await self.session.scalars(
            select(model).where(model.consult_id == consult_id).order_by(*order, model.id)
        )
        return list(rows.all())

    async def record(
        self, consult: ConsultRequest, assignees: list[ConsultAssignee]
    ) -> cr.ConsultRecord:
        """Everything FHIR says about one consult."""
        messages = await self._of_consult(ConsultMessage, consult.id, ConsultMessage.created_at)
        attachments = await self._of_consult(
            ConsultAttachment, consult.id, ConsultAttachment.created_at
        )
        opinions = await self._of_consult(ConsultOpinion, consult.id, ConsultOpinion.version)
        patient = await self.session.get(Patient, consult.patient_id)
        specialty = await self.session.get(Specialty, consult.specialty_code)
        # Foreign keys guarantee both.
        assert patient is not None
        assert specialty is not None
        people = await self._people(
            {consult.requester_id}
            | {m.author_id for m in messages}
            | {a.uploader_id for a in attachments}
            | {o.author_id for o in opinions},
            {a.practitioner_id for a in assignees}
            | ({consult.target_practitioner_id} if consult.target_practitioner_id else set()),
        )
        return cr.ConsultRecord(
            consult=consult,
            patient=patient_out(patient),
            specialty=SpecialtyOut.model_validate(specialty),
            assignees=assignees,
            messages=messages,
            attachments=attachments,
            opinions=opinions,
            people={p.user_id: p for p in people},
            practitioners={p.practitioner_id: p for p in people if p.practitioner_id},
        )

    async def _people(self, user_ids: set[str], practitioner_ids: set[str]) -> list[cr.Person]:
        rows = await self.session.execute(
            select(User.id, User.full_name, Practitioner.id)
            .outerjoin(Practitioner, Practitioner.user_id == User.id)
            .where(User.id.in_(user_ids) | Practitioner.id.in_(practitioner_ids))
        )
        return [cr.Person(user_id, name, pid) for user_id, name, pid in rows.all()]

    async def practitioners(self, ids: set[str]) -> list[mapping.PractitionerFacts]:
        """Practitioners with their specialties, as the Practitioner resource shows them."""
        rows = (
            await self.session.execute(
                select(Practitioner, User)
                .join(User, User.id == Practitioner.user_id)
                .where(Practitioner.id.in_(ids))
            )
        ).all()
        codes = await self.session.execute(
            select(PractitionerSpecialty.practitioner_id, Specialty)
            .join(Specialty, Specialty.code == PractitionerSpecialty.specialty_code)
            .where(PractitionerSpecialty.practitioner_id.in_(ids))
            .order_by(Specialty.code)
        )
        specialties: dict[str, list[SpecialtyOut]] = {}
        for practitioner_id, specialty in codes.all():
            specialties.setdefault(practitioner_id, []).append(
                SpecialtyOut.model_validate(specialty)
            )
        return [
            mapping.PractitionerFacts(
                id=p.id,
                full_name=u.full_name,
                active=u.active,
                licence_number=p.licence_number,
                specialties=specialties.get(p.id, []),
            )
            for p, u in rows
        ]

    async def facilities(self, ids: set[str]) -> list[FacilityOut]:
        """Facilities by id."""
        rows = await self.session.scalars(select(Facility).where(Facility.id.in_(ids)))
        return [FacilityOut.model_validate(f) for f in rows.all()]
