"""Request and response models of the teaching API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Final

from pydantic import AwareDatetime, Field, model_validator

from telehealth.accounts.schemas import In, Out, PageQuery
from telehealth.scheduling.schemas import PersonRef
from telehealth.teaching.models import EnrolmentStatus, SessionStatus

__all__ = [
    "AttendanceOut",
    "AttendeeOut",
    "EnrolmentOut",
    "SessionIn",
    "SessionOut",
    "SessionPage",
    "SessionQuery",
]

MAX_CAPACITY: Final = 1000
LONGEST_SESSION: Final = timedelta(hours=12)
Id = Annotated[str, Field(min_length=1, max_length=36)]


class SessionIn(In):
    """A new teaching session."""

    title: Annotated[str, Field(min_length=1, max_length=200)]
    topic: Annotated[str, Field(min_length=1, max_length=4000)]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: Annotated[int, Field(ge=1, le=MAX_CAPACITY)]
    facility_ids: Annotated[list[Id], Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _sensible_times(self) -> SessionIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > LONGEST_SESSION:
            raise ValueError("a session lasts at most 12 hours")
        return self


class SessionQuery(PageQuery):
    """`?limit=&cursor=` of the session list."""


class SessionOut(Out):
    """A session as its trainer or an invited trainee sees it."""

    id: str
    title: str
    topic: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    enrolled: int
    status: SessionStatus
    trainer: PersonRef
    facility_ids: list[str]
    room_id: str | None
    room_state: str | None
    # True when the room is open to its parties now (the page shows the join link).
    joinable: bool = False
    # For a trainee: their own enrolment; for the trainer: None.
    your_enrolment: EnrolmentStatus | None = None


class SessionPage(Out):
    """One page of sessions, earliest start first."""

    items: list[SessionOut]
    next: str | None


class EnrolmentOut(Out):
    """A trainee's place in a session."""

    session_id: str
    trainee: PersonRef
    facility_id: str | None
    status: EnrolmentStatus
    enrolled_at: datetime
    cancelled_at: datetime | None


class AttendeeOut(Out):
    """How long one person was in the session's room."""

    user_id: str
    full_name: str
    role: str
    minutes: float
    share: float
    first_joined: datetime | None
    last_left: datetime | None
    certified: bool


class AttendanceOut(Out):
    """Minutes present per enrolled trainee (and the trainer), from the room's log."""

    session_id: str
    room_id: str | None
    planned_minutes: float
    certificate_share: float
    items: list[AttendeeOut]
