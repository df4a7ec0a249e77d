"""ORM rows of consults: the request, its parties, its timeline, messages and opinions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db.base import Base, new_id, utcnow


class Urgency(StrEnum):
    """How soon an answer is needed; each has a configurable response deadline."""

    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class ConsultStatus(StrEnum):
    """Where a consult request is in its life."""

    DRAFT = "draft"
    SUBMITTED = "submitted"  # in the specialty queue, nobody has taken it
    ACCEPTED = "accepted"  # a specialist is working on it
    INFO_REQUESTED = "info_requested"  # waiting on the requester
    ANSWERED = "answered"  # a signed opinion exists
    DECLINED = "declined"
    CANCELLED = "cancelled"


OPEN_STATUSES = (ConsultStatus.SUBMITTED, ConsultStatus.ACCEPTED, ConsultStatus.INFO_REQUESTED)
# The deadline's clock stops while a request waits on its requester (info_requested); the
# time it waited is added to `due_at` when it goes on.
DEADLINE_RUNNING = (ConsultStatus.SUBMITTED.value, ConsultStatus.ACCEPTED.value)


class Disposition(StrEnum):
    """What the specialist recommends should happen to the patient."""

    MANAGE_LOCALLY = "manage_locally"
    TRANSFER = "transfer"
    FOLLOW_UP_CONSULT = "follow_up_consult"
    ADMIT = "admit"


class ConsultRequest(Base):
    """A request from a district or commune doctor for a specialty's help with a patient."""

    __tablename__ = "consult_requests"
    __table_args__ = (Index("ix_consult_requests_queue", "specialty_code", "status", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    requester_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    requesting_facility_id: Mapped[str] = mapped_column(ForeignKey("facilities.id"), index=True)
    specialty_code: Mapped[str] = mapped_column(ForeignKey("specialties.code"))
    target_facility_id: Mapped[str | None] = mapped_column(
        ForeignKey("facilities.id"), nullable=True
    )
    # Indexed for the queue: "named to me" is one side of its OR (repository.queue_condition).
    target_practitioner_id: Mapped[str | None] = mapped_column(
        ForeignKey("practitioners.id"), nullable=True, index=True
    )
    urgency: Mapped[str] = mapped_column(String(12))
    question: Mapped[str] = mapped_column(Text)
    # history, examination, vitals{...}, current_treatment, allergies
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    patient_present: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=ConsultStatus.DRAFT.value)
    version: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    overdue_at: Mapped[datetime | None] = mapped_column(nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    room_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    session_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConsultAssignee(Base):
    """A specialist working on a consult; several make it multi-disciplinary."""

    __tablename__ = "consult_assignees"

    consult_id: Mapped[str] = mapped_column(
        ForeignKey("consult_requests.id", ondelete="CASCADE"), primary_key=True
    )
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("practitioners.id"), primary_key=True)
    lead: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsultAmendment(Base):
    """A change to a submitted request; the version before it stays readable."""

    __tablename__ = "consult_amendments"
    __table_args__ = (UniqueConstraint("consult_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    consult_id: Mapped[str] = mapped_column(
        ForeignKey("consult_requests.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    previous: Mapped[dict[str, Any]] = mapped_column(JSON)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsultEvent(Base):
    """One entry of a consult's timeline: a state change, message, attachment or opinion."""

    __tablename__ = "consult_events"
    __table_args__ = (Index("ix_consult_events_consult_at", "consult_id", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    consult_id: Mapped[str] = mapped_column(ForeignKey("consult_requests.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ConsultMessage(Base):
    """A message between the requester and the specialists of a consult."""

    __tablename__ = "consult_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    consult_id: Mapped[str] = mapped_column(
        ForeignKey("consult_requests.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsultOpinion(Base):
    """A signed written opinion; an amendment is a new version that supersedes the last."""

    __tablename__ = "consult_opinions"
    __table_args__ = (UniqueConstraint("consult_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    consult_id: Mapped[str] = mapped_column(
        ForeignKey("consult_requests.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    assessment: Mapped[str] = mapped_column(Text)
    recommendations: Mapped[str] = mapped_column(Text)
    recommended_tests: Mapped[str | None] = mapped_column(Text, nullable=True)
    recommended_treatment: Mapped[str | None] = mapped_column(Text, nullable=True)
    disposition: Mapped[str] = mapped_column(String(24))
    transfer_facility_id: Mapped[str | None] = mapped_column(
        ForeignKey("facilities.id"), nullable=True
    )
    amendment_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    signed_at: Mapped[datetime]
    content_hash: Mapped[str] = mapped_column(String(64))


class OnCallShift(Base):
    """Who answers for a specialty at a facility during a period (the on-call rota)."""

    __tablename__ = "on_call_shifts"
    __table_args__ = (Index("ix_on_call_shifts_lookup", "specialty_code", "start_at", "end_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    specialty_code: Mapped[str] = mapped_column(ForeignKey("specialties.code"))
    facility_id: Mapped[str] = mapped_column(ForeignKey("facilities.id"))
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("practitioners.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]


class ConsultAttachment(Base):
    """A file attached to a consult, stored once on disk under its SHA-256."""

    __tablename__ = "consult_attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    consult_id: Mapped[str] = mapped_column(
        ForeignKey("consult_requests.id", ondelete="CASCADE"), index=True
    )
    uploader_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))  # image | pdf | dicom
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # DICOM: modality, study date, body part...; images: width and height.
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    preview_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A JPEG of at most 192 px a side for the lists (images and DICOM; none before 0009).
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
