"""Giving a session its room, and ending it with the session, inside the caller's unit of
work (booking, rescheduling and cancelling appointments; scheduling consult sessions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.db.base import utcnow
from telehealth.rooms.models import DEFAULT_MODE, Room, RoomKind, RoomState
from telehealth.rooms.repository import RoomRepository
from telehealth.rooms.states import RoomTrigger, next_state

__all__ = ["end_room_of", "room_for"]


async def room_for(
    session: AsyncSession,
    kind: RoomKind,
    subject_id: str,
    scheduled_at: datetime | None,
    ends_at: datetime | None = None,
) -> Room:
    """The subject's room, made on first use with its kind's default mode; a later call
    moves its times. Runs in the caller's transaction, which commits it."""
    room = await RoomRepository(session).room_of(kind, subject_id)
    if room is None:
        room = Room(kind=kind.value, subject_id=subject_id, mode=DEFAULT_MODE[kind].value)
        session.add(room)
    room.scheduled_at = scheduled_at
    room.ends_at = ends_at
    await session.flush()
    return room


async def end_room_of(session: AsyncSession, kind: RoomKind, subject_id: str, reason: str) -> None:
    """End the subject's room with the session (cancelled, no-show, completed)."""
    repo = RoomRepository(session)
    room = await repo.room_of(kind, subject_id)
    if room is None:
        return
    state = RoomState(room.state)
    target = next_state(state, RoomTrigger.CANCEL)
    if target is not None and await repo.move(room.id, state, target, ended_at=utcnow()):
        repo.log(room.id, "ended", reason=reason)
