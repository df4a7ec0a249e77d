"""Giving a session its room, inside the caller's unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.rooms.models import DEFAULT_MODE, Room, RoomKind


async def room_for(
    session: AsyncSession, kind: RoomKind, subject_id: str, scheduled_at: datetime | None
) -> Room:
    """The subject's room, made on first use with its kind's default mode; a later call
    moves its scheduled time. Runs in the caller's transaction, which commits it."""
    room = await session.scalar(
        select(Room).where(Room.kind == kind.value, Room.subject_id == subject_id)
    )
    if room is None:
        room = Room(kind=kind.value, subject_id=subject_id, mode=DEFAULT_MODE[kind].value)
        session.add(room)
    room.scheduled_at = scheduled_at
    await session.flush()
    return room
