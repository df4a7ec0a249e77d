"""ORM rows of scheduling: weekly rules, one-off blocks, appointments and their time holds."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, Time, text
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, new_id, utcnow


class VisitMode(StrEnum):
    """How the visit happens."""

    VIDEO = "video"
    AUDIO = "audio"


class AppointmentStatus(StrEnum):
    """The life of an appointment."""

    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


ACTIVE_STATUSES = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.IN_PROGRESS,
)
_ACTIVE_SQL = text("status IN ('booked', 'checked_in', 'in_progress')")


class AvailabilityRule(Base):
    """A weekly window in the facility's local time, cut into slots of one length."""

    __tablename__ = "availability_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    practitioner_id: Mapped[str] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    slot_minutes: Mapped[int] = mapped_column(Integer)
    # Local [start, end] pairs as "HH:MM" strings, e.g. [["11:30", "13:30"]].
    breaks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AvailabilityBlock(Base):
    """A one-off absence (holiday, leave) during which no slot is offered."""

    __tablename__ = "availability_blocks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    practitioner_id: Mapped[str] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), index=True
    )
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Appointment(Base):
    """A booked visit of one patient with one practitioner in one slot."""

    __tablename__ = "appointments"
    __table_args__ = (
        # The database, not a read-then-write check, guarantees one active booking per slot.
        Index(
            "uq_appointments_active_slot",
            "practitioner_id",
            "start_at",
            unique=True,
            sqlite_where=_ACTIVE_SQL,
            postgresql_where=_ACTIVE_SQL,
        ),
        Index("ix_appointments_patient_start", "patient_id", "start_at"),
        Index("ix_appointments_practitioner_start", "practitioner_id", "start_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("practitioners.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    facility_id: Mapped[str] = mapped_column(ForeignKey("facilities.id"), index=True)
    slot_id: Mapped[str] = mapped_column(String(80))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    mode: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=AppointmentStatus.BOOKED.value)
    booked_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Booked on someone's behalf: who will sit with the patient at the visit (a relative,
    # the commune health worker), so the doctor knows who is on the other end.
    companion: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    room_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TimeHold(Base):
    """One 5-minute block of a patient's or practitioner's time held by an appointment.

    A unique key over (holder, block) makes overlapping bookings impossible on every
    database alike, whatever the slot lengths: the second insert of a block fails.
    """

    __tablename__ = "time_holds"

    holder: Mapped[str] = mapped_column(String(64), primary_key=True)  # "patient:<id>"
    block_start: Mapped[datetime] = mapped_column(primary_key=True)
    appointment_id: Mapped[str] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )


class CalendarFeed(Base):
    """The secret of a practitioner's private iCalendar feed (stored as a digest)."""

    __tablename__ = "calendar_feeds"

    practitioner_id: Mapped[str] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
