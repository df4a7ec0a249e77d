"""Every SQL statement of teaching sessions: sessions, invitations, enrolments, the room's
log for attendance, and who a teaching room's parties are."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.accounts.models import User
from telehealth.db.pagination import Page, paginate
from telehealth.rooms.models import Room, RoomEvent
from telehealth.rooms.parties import Parties
from telehealth.teaching.models import (
    Enrolment,
    EnrolmentStatus,
    SessionStatus,
    TeachingInvite,
    TeachingSession,
)

__all__ = ["TeachingRepository"]


class TeachingRepository:
    """Teaching rows in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: object) -> None:
        """Stage a new row."""
        self.session.add(row)

    async def teaching_session(self, session_id: str, lock: bool = False) -> TeachingSession | None:
        """One session by id; `lock` holds its row for a change."""
        stmt = select(TeachingSession).where(TeachingSession.id == session_id)
        return await self.session.scalar(stmt.with_for_update() if lock else stmt)

    async def invited(self, session_id: str) -> list[str]:
        """The invited facilities' ids."""
        rows = await self.session.scalars(
            select(TeachingInvite.facility_id)
            .where(TeachingInvite.session_id == session_id)
            .order_by(TeachingInvite.facility_id)
        )
        return list(rows.all())

    async def invites_by_session(self, session_ids: list[str]) -> dict[str, list[str]]:
        """The invited facilities of several sessions."""
        found: dict[str, list[str]] = {i: [] for i in session_ids}
        if session_ids:
            rows = await self.session.execute(
                select(TeachingInvite.session_id, TeachingInvite.facility_id).where(
                    TeachingInvite.session_id.in_(session_ids)
                )
            )
            for session_id, facility_id in rows.all():
                found[session_id].append(facility_id)
        return found

    async def by_trainer(self, trainer_id: str, limit: int, cursor: str | None) -> Page[Any]:
        """A trainer's sessions, earliest first."""
        stmt = select(TeachingSession).where(TeachingSession.trainer_id == trainer_id)
        return await paginate(
            self.session, stmt, TeachingSession.starts_at, TeachingSession.id, limit, cursor
        )

    async def open_to(self, facility_id: str, limit: int, cursor: str | None) -> Page[Any]:
        """Scheduled sessions a facility is invited to, earliest first."""
        invited = exists().where(
            TeachingInvite.session_id == TeachingSession.id,
            TeachingInvite.facility_id == facility_id,
        )
        stmt = select(TeachingSession).where(
            invited, TeachingSession.status == SessionStatus.SCHEDULED.value
        )
        return await paginate(
            self.session, stmt, TeachingSession.starts_at, TeachingSession.id, limit, cursor
        )

    async def take_place(self, session_id: str) -> bool:
        """Take one place if one is left (a conditional UPDATE: the database arbitrates
        between trainees taking the last place at once)."""
        result = await self.session.execute(
            update(TeachingSession)
            .where(
                TeachingSession.id == session_id,
                TeachingSession.enrolled < TeachingSession.capacity,
            )
            .values(enrolled=TeachingSession.enrolled + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def give_back_place(self, session_id: str) -> None:
        """Free one place (an enrolment was cancelled)."""
        await self.session.execute(
            update(TeachingSession)
            .where(TeachingSession.id == session_id, TeachingSession.enrolled > 0)
            .values(enrolled=TeachingSession.enrolled - 1)
            .execution_options(synchronize_session=False)
        )

    async def enrolment(self, session_id: str, trainee_id: str) -> Enrolment | None:
        """A trainee's enrolment row in a session, whatever its status."""
        return await self.session.scalar(
            select(Enrolment).where(
                Enrolment.session_id == session_id, Enrolment.trainee_id == trainee_id
            )
        )

    async def enrolments_of(self, trainee_id: str, session_ids: list[str]) -> dict[str, str]:
        """A trainee's enrolment status in each of these sessions."""
        if not session_ids:
            return {}
        rows = await self.session.execute(
            select(Enrolment.session_id, Enrolment.status).where(
                Enrolment.trainee_id == trainee_id, Enrolment.session_id.in_(session_ids)
            )
        )
        return {str(s): str(st) for s, st in rows.all()}

    async def enrolments(self, session_id: str) -> list[tuple[Enrolment, User]]:
        """Every enrolment of a session with its trainee, in order of enrolling."""
        rows = await self.session.execute(
            select(Enrolment, User)
            .join(User, User.id == Enrolment.trainee_id)
            .where(Enrolment.session_id == session_id)
            .order_by(Enrolment.enrolled_at, Enrolment.id)
        )
        return [(e, u) for e, u in rows.all()]

    async def room(self, room_id: str | None) -> Room | None:
        """The session's room."""
        return await self.session.get(Room, room_id) if room_id else None

    async def rooms(self, room_ids: list[str]) -> dict[str, Room]:
        """Several rooms by id."""
        if not room_ids:
            return {}
        rows = await self.session.scalars(select(Room).where(Room.id.in_(room_ids)))
        return {r.id: r for r in rows.all()}

    async def has_floor(self, room_id: str, peer_id: str) -> bool:
        """Whether the last floor change for this peer gave it the floor."""
        last = await self.session.scalar(
            select(RoomEvent)
            .where(
                RoomEvent.room_id == room_id,
                RoomEvent.peer_id == peer_id,
                RoomEvent.kind == "floor",
            )
            .order_by(RoomEvent.at.desc(), RoomEvent.id.desc())
            .limit(1)
        )
        return last is not None and last.details.get("granted") is True

    async def users(self, ids: set[str]) -> dict[str, User]:
        """Users keyed by id."""
        if not ids:
            return {}
        rows = await self.session.scalars(select(User).where(User.id.in_(ids)))
        return {u.id: u for u in rows.all()}

    async def parties(self, session_id: str) -> Parties:
        """A teaching room's people: the trainer hosts and presents, enrolled trainees are
        participants (in directly, no waiting room)."""
        found = await self.session.get(TeachingSession, session_id)
        if found is None:
            return Parties(hosts=frozenset(), active=False)
        rows = await self.session.scalars(
            select(Enrolment.trainee_id).where(
                Enrolment.session_id == session_id,
                Enrolment.status == EnrolmentStatus.ENROLLED.value,
            )
        )
        hosts = frozenset({found.trainer_id})
        return Parties(
            hosts=hosts,
            participants=frozenset(rows.all()) - hosts,
            active=found.status == SessionStatus.SCHEDULED.value,
        )
