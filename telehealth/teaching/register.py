"""The attendance register of one session: the room's log turned into minutes per person,
the share of the planned session each attended, and who earns a certificate."""

from __future__ import annotations

from datetime import datetime

from telehealth.config import Settings
from telehealth.rooms.models import RoomEvent
from telehealth.rooms.repository import RoomRepository
from telehealth.teaching import schemas as s
from telehealth.teaching.attendance import (
    LogEntry,
    Presence,
    minutes_present,
    presence_of,
    share_within,
)
from telehealth.teaching.models import EnrolmentStatus, TeachingSession
from telehealth.teaching.repository import TeachingRepository

__all__ = ["attendance_of", "log_entry"]


def log_entry(event: RoomEvent) -> LogEntry:
    """The part of a room event attendance reads."""
    details = event.details or {}
    reason, connection = details.get("reason"), details.get("connection")
    return LogEntry(
        kind=event.kind,
        at=event.at,
        peer_id=event.peer_id,
        user_id=event.actor_id,
        reason=reason if isinstance(reason, str) else None,
        connection=connection if isinstance(connection, str) else None,
    )


async def attendance_of(
    repo: TeachingRepository, row: TeachingSession, settings: Settings, now: datetime
) -> s.AttendanceOut:
    """The trainer first, then every enrolled trainee (present or not), then anyone else
    the log shows (a trainee who cancelled after attending)."""
    events = await RoomRepository(repo.session).presence_log(row.room_id) if row.room_id else []
    # A presence still open (the room is live) counts up to now.
    found = presence_of([log_entry(e) for e in events], settings.rooms.reconnect_window, now)
    by_user: dict[str, Presence] = {p.user_id: p for p in found.values() if p.user_id}
    enrolled = [
        u for e, u in await repo.enrolments(row.id) if e.status == EnrolmentStatus.ENROLLED.value
    ]
    order = [row.trainer_id] + [u.id for u in enrolled]
    order += sorted(set(by_user) - set(order))
    users = await repo.users(set(order))
    share_needed = settings.teaching.certificate_share
    items = []
    for user_id in order:
        presence = by_user.get(user_id, Presence(user_id))
        share = share_within(presence.windows, row.starts_at, row.ends_at)
        role = "trainer" if user_id == row.trainer_id else "trainee"
        items.append(
            s.AttendeeOut(
                user_id=user_id,
                full_name=users[user_id].full_name if user_id in users else "",
                role=role,
                minutes=round(minutes_present(presence.windows), 1),
                share=round(share, 3),
                first_joined=presence.first_joined,
                last_left=presence.last_left,
                certified=role == "trainee" and share >= share_needed,
            )
        )
    planned = (row.ends_at - row.starts_at).total_seconds() / 60
    return s.AttendanceOut(
        session_id=row.id,
        room_id=row.room_id,
        planned_minutes=round(planned, 1),
        certificate_share=share_needed,
        items=items,
    )
