"""SQL of consults: requests, assignees, timeline, messages, opinions and the rota."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.accounts.models import (
    Facility,
    Patient,
    Practitioner,
    PractitionerSpecialty,
    User,
)
from telehealth.auth.principal import Principal
from telehealth.consults import policy
from telehealth.consults.models import (
    DEADLINE_RUNNING,
    OPEN_STATUSES,
    ConsultAmendment,
    ConsultAssignee,
    ConsultEvent,
    ConsultMessage,
    ConsultOpinion,
    ConsultRequest,
    OnCallShift,
)
from telehealth.db.pagination import Page, paginate


async def load_viewer(session: AsyncSession, principal: Principal) -> policy.Viewer:
    """The caller with their practitioner profile, specialties and facility level."""
    found = (
        await session.execute(
            select(Practitioner.id, Facility.level)
            .select_from(User)
            .outerjoin(Practitioner, Practitioner.user_id == User.id)
            .outerjoin(Facility, Facility.id == User.facility_id)
            .where(User.id == principal.user_id)
        )
    ).first()
    practitioner_id, level = found if found is not None else (None, None)
    specialties: frozenset[str] = frozenset()
    if practitioner_id is not None:
        rows = await session.scalars(
            select(PractitionerSpecialty.specialty_code).where(
                PractitionerSpecialty.practitioner_id == practitioner_id
            )
        )
        specialties = frozenset(rows.all())
    return policy.Viewer(principal, practitioner_id, specialties, at_hub=level in policy.HUB_LEVELS)


def queue_condition(viewer: policy.Viewer) -> ColumnElement[bool]:
    """What `policy.in_queue_of` says of one request, as SQL (its status aside): named to
    the specialist, or of their specialty and named to their facility or, at a hub
    hospital, to no facility."""
    for_facility: ColumnElement[bool] = ConsultRequest.target_facility_id == (
        viewer.principal.facility_id
    )
    if viewer.at_hub:
        for_facility = or_(ConsultRequest.target_facility_id.is_(None), for_facility)
    condition = and_(ConsultRequest.specialty_code.in_(viewer.specialties), for_facility)
    if viewer.practitioner_id:
        condition = or_(condition, ConsultRequest.target_practitioner_id == viewer.practitioner_id)
    return condition


def queue_statement(viewer: policy.Viewer, status: str | None) -> Select[ConsultRequest]:
    """The requests of a specialist's queues, optionally of one open status, unordered."""
    # The queue only ever holds open requests: a status filter narrows it, it never
    # widens it to drafts or closed requests the specialist is no party to.
    open_statuses = [s.value for s in OPEN_STATUSES]
    statuses = [status] if status in open_statuses else [] if status else open_statuses
    return select(ConsultRequest).where(
        ConsultRequest.status.in_(statuses),
        ConsultRequest.due_at.is_not(None),
        queue_condition(viewer),
    )


class ConsultRepository:
    """Loads and stores consult rows in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: object) -> None:
        """Stage a new row."""
        self.session.add(row)

    async def consult(self, consult_id: str, *, lock: bool = False) -> ConsultRequest | None:
        """One request (row-locked on PostgreSQL when changing it)."""
        stmt = select(ConsultRequest).where(ConsultRequest.id == consult_id)
        if lock:
            stmt = stmt.with_for_update()
        found: ConsultRequest | None = await self.session.scalar(stmt)
        return found

    async def assignees(self, consult_ids: list[str]) -> dict[str, list[ConsultAssignee]]:
        """Assigned specialists per consult, lead first."""
        rows = await self.session.scalars(
            select(ConsultAssignee)
            .where(ConsultAssignee.consult_id.in_(consult_ids))
            .order_by(ConsultAssignee.lead.desc(), ConsultAssignee.joined_at)
        )
        out: dict[str, list[ConsultAssignee]] = {}
        for row in rows.all():
            out.setdefault(row.consult_id, []).append(row)
        return out

    async def team(self, consult_id: str) -> set[str]:
        """Practitioner ids of the specialists assigned to one consult."""
        return {a.practitioner_id for a in (await self.assignees([consult_id])).get(consult_id, [])}

    async def remove_assignee(self, consult_id: str, practitioner_id: str) -> None:
        """Take a specialist off a consult."""
        await self.session.execute(
            delete(ConsultAssignee).where(
                ConsultAssignee.consult_id == consult_id,
                ConsultAssignee.practitioner_id == practitioner_id,
            )
        )

    async def specialties(self, practitioner_id: str) -> frozenset[str]:
        """A practitioner's specialty codes."""
        rows = await self.session.scalars(
            select(PractitionerSpecialty.specialty_code).where(
                PractitionerSpecialty.practitioner_id == practitioner_id
            )
        )
        return frozenset(rows.all())

    async def practitioner_with_user(
        self, practitioner_id: str
    ) -> tuple[Practitioner, User] | None:
        """A practitioner and their user."""
        row = (
            await self.session.execute(
                select(Practitioner, User)
                .join(User, User.id == Practitioner.user_id)
                .where(Practitioner.id == practitioner_id)
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def practitioner_users(self, practitioner_ids: set[str]) -> dict[str, User]:
        """The user of each practitioner, keyed by practitioner id."""
        if not practitioner_ids:
            return {}
        rows = await self.session.execute(
            select(Practitioner.id, User)
            .join(User, User.id == Practitioner.user_id)
            .where(Practitioner.id.in_(practitioner_ids))
        )
        return dict(rows.all())

    async def patients(self, patient_ids: set[str]) -> dict[str, Patient]:
        """Patient records keyed by id."""
        if not patient_ids:
            return {}
        rows = await self.session.scalars(select(Patient).where(Patient.id.in_(patient_ids)))
        return {p.id: p for p in rows.all()}

    async def page(
        self, condition: ColumnElement[bool], limit: int, cursor: str | None
    ) -> Page[ConsultRequest]:
        """A page of consults matching `condition`, oldest first."""
        stmt: Select[ConsultRequest] = select(ConsultRequest).where(condition)
        return await paginate(
            self.session, stmt, ConsultRequest.created_at, ConsultRequest.id, limit, cursor
        )

    async def queue(
        self,
        viewer: policy.Viewer,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[ConsultRequest]:
        """A page of the open requests in a specialist's queues (`policy.in_queue_of`),
        nearest deadline first (every open request has one)."""
        return await paginate(
            self.session,
            queue_statement(viewer, status),
            ConsultRequest.due_at,
            ConsultRequest.id,
            limit,
            cursor,
        )

    async def events(self, consult_id: str) -> list[ConsultEvent]:
        """The timeline, oldest first."""
        rows = await self.session.scalars(
            select(ConsultEvent)
            .where(ConsultEvent.consult_id == consult_id)
            .order_by(ConsultEvent.at, ConsultEvent.id)
        )
        return list(rows.all())

    async def messages(self, consult_id: str) -> list[ConsultMessage]:
        """Messages, oldest first."""
        rows = await self.session.scalars(
            select(ConsultMessage)
            .where(ConsultMessage.consult_id == consult_id)
            .order_by(ConsultMessage.created_at, ConsultMessage.id)
        )
        return list(rows.all())

    async def opinions(self, consult_id: str) -> list[ConsultOpinion]:
        """Every signed version, newest last."""
        rows = await self.session.scalars(
            select(ConsultOpinion)
            .where(ConsultOpinion.consult_id == consult_id)
            .order_by(ConsultOpinion.version)
        )
        return list(rows.all())

    async def amendments(self, consult_id: str) -> list[ConsultAmendment]:
        """Every amendment of a request, oldest first."""
        rows = await self.session.scalars(
            select(ConsultAmendment)
            .where(ConsultAmendment.consult_id == consult_id)
            .order_by(ConsultAmendment.version)
        )
        return list(rows.all())

    async def latest_opinions(self, consult_ids: list[str]) -> dict[str, ConsultOpinion]:
        """The newest opinion of each consult (one row each, whatever the versions)."""
        newest = (
            select(ConsultOpinion.consult_id, func.max(ConsultOpinion.version).label("version"))
            .where(ConsultOpinion.consult_id.in_(consult_ids))
            .group_by(ConsultOpinion.consult_id)
            .subquery()
        )
        rows = await self.session.scalars(
            select(ConsultOpinion).join(
                newest,
                and_(
                    ConsultOpinion.consult_id == newest.c.consult_id,
                    ConsultOpinion.version == newest.c.version,
                ),
            )
        )
        return {o.consult_id: o for o in rows.all()}

    async def overdue(self, now: datetime, limit: int) -> list[ConsultRequest]:
        """Requests whose deadline runs (open, not waiting on the requester), past it and
        not marked yet."""
        rows = await self.session.scalars(
            select(ConsultRequest)
            .where(
                ConsultRequest.status.in_(DEADLINE_RUNNING),
                ConsultRequest.due_at <= now,
                ConsultRequest.overdue_at.is_(None),
            )
            .order_by(ConsultRequest.due_at)
            .limit(limit)
            # Several nodes run the watch: each takes the rows no other is marking
            # (PostgreSQL; SQLite has one writer and no FOR UPDATE).
            .with_for_update(skip_locked=True)
        )
        return list(rows.all())

    async def last_event_at(self, consult_id: str, kind: str) -> datetime | None:
        """When the latest timeline entry of one kind was written."""
        at: datetime | None = await self.session.scalar(
            select(func.max(ConsultEvent.at)).where(
                ConsultEvent.consult_id == consult_id, ConsultEvent.kind == kind
            )
        )
        return at

    async def on_call(
        self, specialty: str, facility_id: str | None, at: datetime
    ) -> list[OnCallShift]:
        """Shifts covering `at` for a specialty (at one facility, if given)."""
        stmt = select(OnCallShift).where(
            OnCallShift.specialty_code == specialty,
            OnCallShift.start_at <= at,
            OnCallShift.end_at > at,
        )
        if facility_id:
            stmt = stmt.where(OnCallShift.facility_id == facility_id)
        rows = await self.session.scalars(stmt.order_by(OnCallShift.start_at))
        return list(rows.all())
