"""What the on-call rota takes and gives: shifts in and out, the rota's queries, and the
choices of the rota form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from telehealth.accounts.models import Role
from telehealth.accounts.schemas import CalendarText, FacilityRef, In, Out, PageQuery, QueryIn
from telehealth.scheduling.schemas import PersonRef

READERS = frozenset({Role.DOCTOR, Role.SPECIALIST, Role.ADMIN})
MAX_SHIFT = timedelta(days=7)
DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=31)
# Far enough for any real rota, near enough that no arithmetic on it can overflow.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
ENDED = "A shift must end in the future."


def _bounded(value: datetime) -> datetime:
    try:
        moment = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError("the time must fall in the years 2000 to 2099")
    return moment


Instant = Annotated[AwareDatetime, AfterValidator(_bounded)]
Id = Annotated[str, Field(min_length=1, max_length=36)]
Code = Annotated[str, Field(min_length=1, max_length=32)]


class ShiftIn(In):
    """One shift: a specialist answers for a specialty at a hospital from start to end."""

    specialty: Code
    facility_id: Id
    practitioner_id: Id
    start_at: Instant
    end_at: Instant

    @model_validator(mode="after")
    def _ordered(self) -> ShiftIn:
        if self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        if self.end_at - self.start_at > MAX_SHIFT:
            raise ValueError("a shift can last at most 7 days")
        return self


class RotaQuery(PageQuery):
    """Shifts overlapping a window (default: the next 7 days; at most 31), by start."""

    specialty: Code | None = None
    facility_id: Id | None = None
    from_: Annotated[Instant | date | None, CalendarText, Field(alias="from")] = None
    to: Annotated[Instant | date | None, CalendarText] = None


class NowQuery(QueryIn):
    """Who is on call now, for one specialty or hospital or all of them."""

    specialty: Code | None = None
    facility_id: Id | None = None


class ShiftOut(Out):
    """A shift of the rota; `practitioner.id` is the practitioner id."""

    id: str
    specialty: str
    facility: FacilityRef
    practitioner: PersonRef
    start_at: datetime
    end_at: datetime


class ShiftPage(Out):
    """A page of shifts, soonest start first."""

    items: list[ShiftOut]
    next: str | None


class OnCallGroup(Out):
    """The shifts covering now for one specialty at one hospital; the deadline watch
    notifies the first."""

    specialty: str
    facility: FacilityRef
    shifts: list[ShiftOut]


class OnCallNowOut(Out):
    """Who is on call at `at`, per specialty and hospital."""

    at: datetime
    items: list[OnCallGroup]


@dataclass(frozen=True)
class Specialist:
    """A specialist who may be put on call: where they work and what they hold."""

    practitioner_id: str
    full_name: str
    facility_id: str
    specialties: tuple[str, ...]


@dataclass(frozen=True)
class RotaChoices:
    """What the rota form offers: hub hospitals and their specialists."""

    facilities: list[FacilityRef]
    specialists: list[Specialist]
