"""A consult's live session as the consult's record shows it: who joined its relay room
and for how long (read from the room's event log), and which room a signed opinion was
discussed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.accounts.models import User
from telehealth.consults import schemas as s
from telehealth.consults.models import ConsultRequest
from telehealth.rooms.models import Room
from telehealth.rooms.repository import RoomRepository
from telehealth.teaching.attendance import minutes_present, presence_of
from telehealth.teaching.register import log_entry

__all__ = ["SessionHeld", "discussed_in", "session_held"]

SESSION_KIND = "session_held"


@dataclass(frozen=True)
class Attendee:
    """One person's time in the session's room."""

    user_id: str
    minutes: float
    first_joined: datetime
    last_left: datetime


@dataclass(frozen=True)
class SessionHeld:
    """A session that took place: its room, when it went live and ended, who was in it."""

    room_id: str
    started: datetime
    ended: datetime | None
    attendees: list[Attendee]

    @property
    def user_ids(self) -> set[str]:
        """Everyone who joined."""
        return {a.user_id for a in self.attendees}

    def entry(self, users: dict[str, User]) -> s.TimelineEntry:
        """The session as one timeline entry, at the moment the room went live."""
        people = [
            {
                "user_id": a.user_id,
                "full_name": users[a.user_id].full_name if a.user_id in users else "",
                "minutes": a.minutes,
                "first_joined": a.first_joined.isoformat(),
                "last_left": a.last_left.isoformat(),
            }
            for a in self.attendees
        ]
        data = {
            "room_id": self.room_id,
            "ended_at": self.ended.isoformat() if self.ended else None,
            "attendees": people,
        }
        return s.TimelineEntry(
            id=f"session:{self.room_id}", at=self.started, kind=SESSION_KIND, actor=None, data=data
        )


async def discussed_in(session: AsyncSession, consult: ConsultRequest) -> Room | None:
    """The consult's room if a live session took place in it."""
    if consult.room_id is None:
        return None
    room = await RoomRepository(session).room(consult.room_id)
    return room if room is not None and room.live_at is not None else None


async def session_held(
    session: AsyncSession, consult: ConsultRequest, reconnect_window: timedelta, now: datetime
) -> SessionHeld | None:
    """The consult's session if it took place (its room went live), with who joined and
    for how long; a session still running counts up to now."""
    room = await discussed_in(session, consult)
    if room is None or room.live_at is None:
        return None
    log = await RoomRepository(session).presence_log(room.id)
    found = presence_of([log_entry(e) for e in log], reconnect_window, now)
    attendees = [
        Attendee(p.user_id, round(minutes_present(p.windows), 1), p.windows[0][0], p.windows[-1][1])
        for p in found.values()
        if p.user_id and p.windows
    ]
    attendees.sort(key=lambda a: (a.first_joined, a.user_id))
    return SessionHeld(room.id, room.live_at, room.ended_at, attendees)
