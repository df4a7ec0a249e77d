"""ORM rows of teaching sessions: the session, the facilities invited to it, enrolments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, new_id, utcnow


class SessionStatus(StrEnum):
    """Whether a session still takes place."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class EnrolmentStatus(StrEnum):
    """A trainee's place in a session."""

    ENROLLED = "enrolled"
    CANCELLED = "cancelled"


class TeachingSession(Base):
    """One remote teaching session: one trainer presents, enrolled trainees watch."""

    __tablename__ = "teaching_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    trainer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    capacity: Mapped[int] = mapped_column(Integer)
    # Kept with the session and moved by a conditional UPDATE, so that two trainees
    # taking the last place cannot both get it (the database decides, not a read).
    enrolled: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default=SessionStatus.SCHEDULED.value)
    room_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TeachingInvite(Base):
    """A facility whose trainees may see and enrol in a session."""

    __tablename__ = "teaching_invites"
    __table_args__ = (UniqueConstraint("session_id", "facility_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("teaching_sessions.id", ondelete="CASCADE"), index=True
    )
    facility_id: Mapped[str] = mapped_column(ForeignKey("facilities.id"), index=True)


class Enrolment(Base):
    """A trainee's place in a session (one row per trainee; cancelling keeps the row)."""

    __tablename__ = "teaching_enrolments"
    __table_args__ = (UniqueConstraint("session_id", "trainee_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("teaching_sessions.id", ondelete="CASCADE"), index=True
    )
    trainee_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default=EnrolmentStatus.ENROLLED.value)
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(nullable=True)
