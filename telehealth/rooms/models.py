"""The room a live session happens in: one per appointment, consult or teaching session.

The live-room issues add the event log, outcomes, signalling and the relay; here a room
is the record that says which session it belongs to and how its media will flow.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, new_id, utcnow


class RoomKind(StrEnum):
    """What the room is for."""

    VISIT = "visit"
    CONSULT = "consult"
    TEACHING = "teaching"


class RoomMode(StrEnum):
    """How media flows: browser to browser, or once to the server, which forwards it."""

    MESH = "mesh"
    RELAY = "relay"


class RoomState(StrEnum):
    """Where a room is in its life."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    LIVE = "live"
    ENDED = "ended"


# Consults join several sites over weak district uplinks, teaching has one presenter and
# many viewers: both relay. A visit is two browsers, end-to-end encrypted between them.
DEFAULT_MODE = {
    RoomKind.VISIT: RoomMode.MESH,
    RoomKind.CONSULT: RoomMode.RELAY,
    RoomKind.TEACHING: RoomMode.RELAY,
}


class Room(Base):
    """A room of one appointment, consult or teaching session (its subject)."""

    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("kind", "subject_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(12))
    subject_id: Mapped[str] = mapped_column(String(36))
    mode: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(12), default=RoomState.SCHEDULED.value)
    scheduled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The node that hosts a relay room once it is live (multi-node, later issues).
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
