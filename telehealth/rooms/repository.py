"""Every SQL statement of rooms: the room row and its compare-and-set moves, the parties of
its subject, who is present, the event log and outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.accounts.models import Patient, Practitioner, User
from telehealth.consults.models import ConsultAssignee, ConsultRequest, ConsultStatus
from telehealth.db.pagination import Page, paginate
from telehealth.rooms.models import (
    Room,
    RoomEvent,
    RoomKind,
    RoomOutcome,
    RoomPresence,
    RoomState,
)
from telehealth.rooms.parties import Parties
from telehealth.scheduling.models import ACTIVE_STATUSES, Appointment
from telehealth.teaching.repository import TeachingRepository

PRESENCE_KINDS = ("joined", "reconnected", "disconnected", "left", "ended")
CONSULT_LIVE_STATUSES = (
    ConsultStatus.ACCEPTED.value,
    ConsultStatus.INFO_REQUESTED.value,
    ConsultStatus.ANSWERED.value,
)


class RoomRepository:
    """Rooms, presence, events and outcomes in one session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def room(self, room_id: str) -> Room | None:
        """One room by id."""
        return await self._session.get(Room, room_id)

    async def room_of(self, kind: RoomKind, subject_id: str) -> Room | None:
        """The room of one subject."""
        return await self._session.scalar(
            select(Room).where(Room.kind == kind.value, Room.subject_id == subject_id)
        )

    async def move(
        self, room_id: str, old: RoomState, new: RoomState, **fields: datetime | None
    ) -> bool:
        """Compare-and-set the state: True only for the one caller that found `old`."""
        result = await self._session.execute(
            update(Room)
            .where(Room.id == room_id, Room.state == old.value)
            .values(state=new.value, **fields)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_emptied(self, room_id: str, at: datetime | None) -> None:
        """Mark when the room became empty (None: somebody is in it)."""
        await self._session.execute(
            update(Room)
            .where(Room.id == room_id)
            .values(emptied_at=at)
            .execution_options(synchronize_session=False)
        )

    async def expired_rooms(self, live_before: datetime, open_before: datetime) -> list[Room]:
        """Live rooms empty since before `live_before`, and open rooms nobody is in whose
        session ended before `open_before`."""
        nobody = ~select(RoomPresence.id).where(RoomPresence.room_id == Room.id).exists()
        rows = await self._session.scalars(
            select(Room).where(
                nobody,
                (
                    (Room.state == RoomState.LIVE.value)
                    & (Room.emptied_at.is_not(None))
                    & (Room.emptied_at < live_before)
                )
                | (
                    (Room.state == RoomState.OPEN.value)
                    & (Room.ends_at.is_not(None))
                    & (Room.ends_at < open_before)
                ),
            )
        )
        return list(rows.all())

    async def parties(self, room: Room) -> Parties:
        """Who belongs to the room's subject (nobody for kinds without live rooms yet)."""
        if room.kind == RoomKind.VISIT.value:
            return await self._visit_parties(room.subject_id)
        if room.kind == RoomKind.CONSULT.value:
            return await self._consult_parties(room.subject_id)
        if room.kind == RoomKind.TEACHING.value:
            return await TeachingRepository(self._session).parties(room.subject_id)
        return Parties(hosts=frozenset(), active=False)

    async def _visit_parties(self, appointment_id: str) -> Parties:
        row = (
            await self._session.execute(
                select(Appointment, Practitioner.user_id, Patient.user_id)
                .join(Practitioner, Practitioner.id == Appointment.practitioner_id)
                .join(Patient, Patient.id == Appointment.patient_id)
                .where(Appointment.id == appointment_id)
            )
        ).first()
        if row is None:
            return Parties(hosts=frozenset(), active=False)
        appt, host, patient_user = row
        side = {u for u in (patient_user, appt.booked_by) if u and u != host}
        return Parties(
            hosts=frozenset({host}),
            patient_side=frozenset(side),
            active=appt.status in {s.value for s in ACTIVE_STATUSES},
            patient_id=appt.patient_id,
            appointment_id=appt.id,
            practitioner_ids=frozenset({appt.practitioner_id}),
        )

    async def _consult_parties(self, consult_id: str) -> Parties:
        consult = await self._session.get(ConsultRequest, consult_id)
        if consult is None:
            return Parties(hosts=frozenset(), active=False)
        rows = (
            await self._session.execute(
                select(Practitioner.id, Practitioner.user_id)
                .join(ConsultAssignee, ConsultAssignee.practitioner_id == Practitioner.id)
                .where(ConsultAssignee.consult_id == consult_id)
            )
        ).all()
        hosts = frozenset(user for _, user in rows)
        return Parties(
            hosts=hosts,
            participants=frozenset({consult.requester_id}) - hosts,
            active=consult.status in CONSULT_LIVE_STATUSES,
            patient_id=consult.patient_id,
            practitioner_ids=frozenset(p for p, _ in rows),
        )

    async def active_user(self, user_id: str) -> User | None:
        """The user if they may still sign in."""
        user = await self._session.get(User, user_id)
        return user if user is not None and user.active else None

    async def appointment(self, appointment_id: str) -> Appointment | None:
        """The visit's appointment, locked for the change."""
        return await self._session.scalar(
            select(Appointment).where(Appointment.id == appointment_id).with_for_update()
        )

    # -- presence ---------------------------------------------------------------------

    async def presence(self, room_id: str) -> list[RoomPresence]:
        """Who is in the room (waiting or admitted), earliest first."""
        rows = await self._session.scalars(
            select(RoomPresence)
            .where(RoomPresence.room_id == room_id)
            .order_by(RoomPresence.waiting_since, RoomPresence.id)
        )
        return list(rows.all())

    async def present(self, room_id: str, peer_id: str) -> RoomPresence | None:
        """One person's presence row."""
        return await self._session.scalar(
            select(RoomPresence).where(
                RoomPresence.room_id == room_id, RoomPresence.peer_id == peer_id
            )
        )

    async def waiting_since(self, room_ids: list[str]) -> dict[str, datetime]:
        """For each of these rooms where someone waits to be admitted: since when."""
        if not room_ids:
            return {}
        rows = await self._session.execute(
            select(RoomPresence.room_id, func.min(RoomPresence.waiting_since))
            .where(RoomPresence.room_id.in_(room_ids), RoomPresence.admitted.is_(False))
            .group_by(RoomPresence.room_id)
        )
        return {str(room_id): since for room_id, since in rows.all()}

    def add(self, row: object) -> None:
        """Stage a new row."""
        self._session.add(row)

    async def remove_presence(self, room_id: str, peer_id: str, connection: str) -> bool:
        """Remove a presence row if it is still this connection's; True if removed."""
        result = await self._session.execute(
            delete(RoomPresence).where(
                RoomPresence.room_id == room_id,
                RoomPresence.peer_id == peer_id,
                RoomPresence.connection == connection,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def clear_node(self, node: str) -> list[tuple[str, str]]:
        """Forget the presence rows a node left behind (it restarted); their (room, peer)."""
        rows = (
            await self._session.execute(
                select(RoomPresence.room_id, RoomPresence.peer_id).where(RoomPresence.node == node)
            )
        ).all()
        await self._session.execute(delete(RoomPresence).where(RoomPresence.node == node))
        return [(r, p) for r, p in rows]

    # -- events and outcomes ------------------------------------------------------------

    def log(
        self,
        room_id: str,
        kind: str,
        actor_id: str | None = None,
        peer_id: str | None = None,
        **details: Any,
    ) -> RoomEvent:
        """Append one event to the room's log (committed with the caller's change)."""
        event = RoomEvent(
            room_id=room_id, kind=kind, actor_id=actor_id, peer_id=peer_id, details=details
        )
        self._session.add(event)
        return event

    async def events(self, room_id: str, limit: int, cursor: str | None) -> Page[RoomEvent]:
        """The room's log, oldest first."""
        stmt = select(RoomEvent).where(RoomEvent.room_id == room_id)
        return await paginate(self._session, stmt, RoomEvent.at, RoomEvent.id, limit, cursor)

    async def presence_log(self, room_id: str) -> list[RoomEvent]:
        """The room's arrivals, drops, departures and end, oldest first (attendance)."""
        rows = await self._session.scalars(
            select(RoomEvent)
            .where(RoomEvent.room_id == room_id, RoomEvent.kind.in_(PRESENCE_KINDS))
            .order_by(RoomEvent.at, RoomEvent.id)
        )
        return list(rows.all())

    async def recent_chat(self, room_id: str, limit: int) -> list[RoomEvent]:
        """The last `limit` chat messages, oldest first."""
        rows = await self._session.scalars(
            select(RoomEvent)
            .where(RoomEvent.room_id == room_id, RoomEvent.kind == "chat")
            .order_by(RoomEvent.at.desc(), RoomEvent.id.desc())
            .limit(limit)
        )
        return list(reversed(rows.all()))

    async def was_admitted(self, room_id: str, peer_id: str) -> bool:
        """Whether the host ever admitted this peer to the room (its log says so)."""
        found = await self._session.scalar(
            select(RoomEvent.id)
            .where(
                RoomEvent.room_id == room_id,
                RoomEvent.peer_id == peer_id,
                RoomEvent.kind == "admitted",
            )
            .limit(1)
        )
        return found is not None

    async def outcome(self, room_id: str) -> RoomOutcome | None:
        """The current (newest) version of the outcome."""
        return await self._session.scalar(
            select(RoomOutcome)
            .where(RoomOutcome.room_id == room_id)
            .order_by(RoomOutcome.version.desc())
            .limit(1)
        )

    async def outcome_by_key(self, room_id: str, key: str) -> RoomOutcome | None:
        """The outcome a retried request already wrote."""
        return await self._session.scalar(
            select(RoomOutcome).where(
                RoomOutcome.room_id == room_id, RoomOutcome.idempotency_key == key
            )
        )
