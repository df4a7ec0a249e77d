"""The room a live session happens in (one per appointment, consult or teaching session),
who is in it right now, what happened in it (its event log) and its clinical outcome."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
    # The session's planned end; an open room nobody is in ends a grace period after it.
    ends_at: Mapped[datetime | None] = mapped_column(nullable=True)
    live_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # When the last person left; a live room empty for the grace period ends.
    emptied_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The node that hosts a relay room once it is live (multi-node, later issues).
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RoomEvent(Base):
    """One entry of a room's append-only log: who joined, was admitted, left, how the
    connection went, chat, the outcome."""

    __tablename__ = "room_events"
    __table_args__ = (Index("ix_room_events_room_at", "room_id", "at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    peer_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class RoomPresence(Base):
    """A person in a room right now (one row per user and room, on whichever node their
    connection is): the source of peer lists and the waiting list across nodes."""

    __tablename__ = "room_presence"
    __table_args__ = (UniqueConstraint("room_id", "peer_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    peer_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    node: Mapped[str] = mapped_column(String(128), index=True)
    connection: Mapped[str] = mapped_column(String(64))
    admitted: Mapped[bool] = mapped_column(Boolean, default=False)
    waiting_since: Mapped[datetime] = mapped_column(default=utcnow)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoomOutcome(Base):
    """The clinical outcome of a visit, one row per version: written once, corrected by a
    new version that gives its reason."""

    __tablename__ = "room_outcomes"
    __table_args__ = (
        UniqueConstraint("room_id", "version"),
        UniqueConstraint("room_id", "idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    summary: Mapped[str] = mapped_column(Text)
    diagnosis_code: Mapped[str] = mapped_column(String(10))
    diagnosis_text: Mapped[str] = mapped_column(Text)
    plan: Mapped[str] = mapped_column(Text)
    prescriptions: Mapped[str] = mapped_column(Text)
    disposition: Mapped[str] = mapped_column(String(24))
    follow_up: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
