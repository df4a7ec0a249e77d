"""Consult figures: per specialty for a period, and the counts on a clinician's home page.

Counts and durations only, never clinical content. The same SQL runs on SQLite and
PostgreSQL: counts are aggregated in the database, and the median time to answer is
taken in Python over the fetched durations (a year of one network's consults is a few
thousand rows at most).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts.models import Facility, Practitioner, Role, User
from telehealth.accounts.schemas import CalendarText, Out, QueryIn
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.consults.models import (
    DEADLINE_RUNNING,
    OPEN_STATUSES,
    ConsultAssignee,
    ConsultRequest,
    ConsultStatus,
)
from telehealth.consults.repository import load_viewer, queue_condition
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import InvalidInput
from telehealth.scheduling.free import as_instant

DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)
# "Newly answered" on a doctor's home page: answers of the last week.
RECENT_ANSWERS = timedelta(days=7)
OPEN = [s.value for s in OPEN_STATUSES]


class StatsQuery(QueryIn):
    """`?from=&to=` (a date is a local day; `to` is inclusive) and optionally one facility."""

    from_: Annotated[AwareDatetime | date | None, CalendarText, Field(alias="from")] = None
    to: Annotated[AwareDatetime | date | None, CalendarText] = None
    facility_id: Annotated[str, Field(min_length=1, max_length=36)] | None = None


class Figures(Out):
    """Requests submitted in the period and what became of them."""

    submitted: int
    answered: int
    open: int = Field(description="Still open (submitted, accepted or waiting on information).")
    overdue: int = Field(
        description="Open and past the response deadline now (not while waiting on the "
        "requester: the deadline is stopped then)."
    )
    closed: int = Field(description="Declined or cancelled without an answer.")
    answered_in_time: int
    median_minutes_to_answer: float | None = Field(
        description="From submission to the first signed opinion; null without answers."
    )
    answered_in_time_share: float | None = Field(
        description="Share (0 to 1) of the answered requests answered by their deadline."
    )


class SpecialtyFigures(Figures):
    """The figures of one specialty."""

    specialty: str


class ConsultStatsOut(Out):
    """Figures per specialty (busiest first) and in total, for `[start, end)`."""

    start: datetime
    end: datetime
    facility_id: str | None
    computed_at: datetime
    specialties: list[SpecialtyFigures]
    total: Figures


@dataclass(frozen=True)
class WorkSummary:
    """What waits for the signed-in clinician (None: not their role)."""

    queue: int | None = None
    queue_overdue: int | None = None
    open_requests: int | None = None
    drafts: int | None = None
    recently_answered: int | None = None


class ConsultStats:
    """Reads consult counts; one unit of work per call."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._zone = ZoneInfo(settings.default_timezone)
        self._clock = clock

    def period(
        self, query: StatsQuery, now: datetime, *, whole_days: bool = False
    ) -> tuple[datetime, datetime]:
        """The instants `[start, end)` the query asks for (default: the last 30 days).

        With `whole_days` both ends are widened to local midnight: figures over a narrow
        window of exact times would tell when individual requests of another specialty
        were filed and what became of them, so only network admins get exact periods.
        """
        try:
            end = as_instant(query.to, self._zone, end_of_day=True) if query.to else now
            if whole_days:
                end = self._midnight(end, up=True)
            start = (
                as_instant(query.from_, self._zone, end_of_day=False)
                if query.from_
                else end - DEFAULT_PERIOD
            )
            if whole_days:
                start = self._midnight(start, up=False)
        except OverflowError:
            raise InvalidInput("The period is out of range.") from None
        if end <= start:
            raise InvalidInput("'to' must be after 'from'.")
        if end - start > MAX_PERIOD:
            raise InvalidInput("The period can be at most 366 days.")
        return start, end

    def _midnight(self, moment: datetime, *, up: bool) -> datetime:
        """The local midnight at or before `moment` (at or after it, if `up`)."""
        local = moment.astimezone(self._zone)
        day = local.date()
        if up and local.replace(tzinfo=None) != datetime.combine(day, time(0)):
            day += timedelta(days=1)
        return as_instant(day, self._zone, end_of_day=False)

    async def figures(self, query: StatsQuery, *, whole_days: bool = False) -> ConsultStatsOut:
        """Per specialty: submitted, answered, open, overdue, median time, share in time
        (`whole_days`: the period widened to local days, see `period`)."""
        now = self._clock()
        start, end = self.period(query, now, whole_days=whole_days)
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            session = uow.session
            if query.facility_id and await session.get(Facility, query.facility_id) is None:
                raise InvalidInput("facility_id names no facility.")
            scope = _submitted_between(start, end, query.facility_id)
            counts = (await session.execute(_counts(scope, now))).all()
            durations = select(
                ConsultRequest.specialty_code,
                ConsultRequest.submitted_at,
                ConsultRequest.answered_at,
            ).where(scope, ConsultRequest.answered_at.is_not(None))
            answered = (await session.execute(durations)).all()
        minutes: dict[str, list[float]] = {}
        for code, submitted_at, answered_at in answered:
            if submitted_at is not None and answered_at is not None:
                took = (answered_at - submitted_at).total_seconds() / 60
                minutes.setdefault(code, []).append(took)
        rows = [
            SpecialtyFigures(specialty=row[0], **_figures(row[1:], minutes.get(row[0], [])))
            for row in counts
        ]
        rows.sort(key=lambda r: (-r.submitted, r.specialty))
        every = [m for durations in minutes.values() for m in durations]
        totals = [sum(int(row[i] or 0) for row in counts) for i in range(1, 6)]
        return ConsultStatsOut(
            start=start,
            end=end,
            facility_id=query.facility_id,
            computed_at=now,
            specialties=rows,
            total=Figures(**_figures(totals, every)),
        )

    async def work_summary(self, principal: Principal) -> WorkSummary:
        """Specialists: their queue and how much of it is overdue; doctors: their requests."""
        now = self._clock()
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            queue = overdue = None
            if principal.has(Role.SPECIALIST):
                queue_scope = await _queue_of(uow.session, principal)
                queue, overdue = await _count(
                    uow.session,
                    queue_scope,
                    and_(ConsultRequest.status.in_(DEADLINE_RUNNING), ConsultRequest.due_at <= now),
                )
            if not principal.has(Role.DOCTOR):
                return WorkSummary(queue=queue, queue_overdue=overdue)
            _, open_, drafts, answered = await _count(
                uow.session,
                ConsultRequest.requester_id == principal.user_id,
                ConsultRequest.status.in_(OPEN),
                ConsultRequest.status == ConsultStatus.DRAFT.value,
                ConsultRequest.answered_at >= now - RECENT_ANSWERS,
            )
        return WorkSummary(queue, overdue, open_, drafts, answered)


def _figures(counts: Iterable[Any], minutes: list[float]) -> dict[str, Any]:
    submitted, answered, open_, overdue, in_time = (int(c or 0) for c in counts)
    return {
        "submitted": submitted,
        "answered": answered,
        "open": open_,
        "overdue": overdue,
        "closed": submitted - answered - open_,
        "answered_in_time": in_time,
        "median_minutes_to_answer": round(statistics.median(minutes), 1) if minutes else None,
        "answered_in_time_share": round(in_time / answered, 4) if answered else None,
    }


def _submitted_between(
    start: datetime, end: datetime, facility_id: str | None
) -> ColumnElement[bool]:
    """Requests submitted in `[start, end)`; with a facility, those it answers: named to it,
    or taken by one of its specialists."""
    condition = and_(ConsultRequest.submitted_at >= start, ConsultRequest.submitted_at < end)
    if facility_id is None:
        return condition
    its_specialists = (
        select(ConsultAssignee.consult_id)
        .join(Practitioner, Practitioner.id == ConsultAssignee.practitioner_id)
        .join(User, User.id == Practitioner.user_id)
        .where(User.facility_id == facility_id)
    )
    return and_(
        condition,
        or_(
            ConsultRequest.target_facility_id == facility_id,
            ConsultRequest.id.in_(its_specialists),
        ),
    )


def _flag(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _counts(scope: ColumnElement[bool], now: datetime) -> Any:
    is_open = ConsultRequest.status.in_(OPEN)
    answered = ConsultRequest.answered_at.is_not(None)
    return (
        select(
            ConsultRequest.specialty_code,
            func.count(),
            _flag(answered),
            _flag(is_open),
            # Waiting on the requester is not late: the deadline's clock is stopped.
            _flag(and_(ConsultRequest.status.in_(DEADLINE_RUNNING), ConsultRequest.due_at <= now)),
            _flag(and_(answered, ConsultRequest.answered_at <= ConsultRequest.due_at)),
        )
        .where(scope)
        .group_by(ConsultRequest.specialty_code)
    )


async def _queue_of(session: AsyncSession, principal: Principal) -> ColumnElement[bool]:
    """The open requests a specialist's queues show (the same rule as the queue listing)."""
    viewer = await load_viewer(session, principal)
    return and_(ConsultRequest.status.in_(OPEN), queue_condition(viewer))


async def _count(
    session: AsyncSession, scope: ColumnElement[bool], *flags: ColumnElement[bool]
) -> tuple[int, ...]:
    """How many requests `scope` holds, then how many of them match each flag: one query."""
    stmt = select(func.count(), *(_flag(f) for f in flags)).select_from(ConsultRequest)
    row = (await session.execute(stmt.where(scope))).one()
    return tuple(int(v or 0) for v in row)
