"""Searching free slots: by specialty, practitioner, facility and date range."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.config import Settings
from telehealth.db.base import utcnow
from telehealth.db.pagination import decode_cursor, encode_cursor
from telehealth.db.uow import UnitOfWork
from telehealth.errors import InvalidInput
from telehealth.scheduling import schemas as s
from telehealth.scheduling.free import (
    DEFAULT_RANGE,
    PractitionerRow,
    as_instant,
    free_slots_of,
    offered_slots_of,
    slot_out,
)
from telehealth.scheduling.repository import SchedulingRepository

MAX_RANGE = timedelta(days=31)
NEXT_SLOTS = 5
NEXT_WINDOWS = (timedelta(days=1), timedelta(days=3), timedelta(days=14))
# How far past an empty range the search looks for the next day with a free slot.
NEXT_DATE_HORIZON = timedelta(days=90)


class SlotSearch:
    """Finds free slots; read-only."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock

    def _uow(self) -> UnitOfWork:
        # Pure reads: on SQLite a deferred transaction that does not take the write lock.
        return UnitOfWork(self._sessionmaker, read_only=True)

    async def free_slots(self, query: s.SlotQuery) -> s.SlotPage:
        """Free slots by specialty, practitioner, facility and range, soonest first."""
        start, end = self._range(query.from_, query.to)
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            rows = await repo.practitioners(
                query.specialty, query.facility_id, query.practitioner_id
            )
            free = await free_slots_of(repo, rows, start, end)
            if not free and not query.cursor:
                reason, next_date = await _why_empty(repo, rows, start, end)
                return s.SlotPage(items=[], next=None, empty_reason=reason, next_date=next_date)
            if query.cursor:
                after = decode_cursor(query.cursor)
                free = [f for f in free if (f[0].start, f[1][0].id) > after]
            page, more = free[: query.limit], len(free) > query.limit
            specialties = await repo.specialties_of({r[0].id for _, r in page})
            # Rows expire when the unit of work ends, so render before leaving it.
            items = [slot_out(slot, row, specialties.get(row[0].id, [])) for slot, row in page]
            last = (page[-1][0].start, page[-1][1][0].id) if more and page else None
        return s.SlotPage(items=items, next=encode_cursor(*last) if last else None)

    def _range(
        self, start: datetime | date | None, end: datetime | date | None
    ) -> tuple[datetime, datetime]:
        tz = ZoneInfo(self._settings.default_timezone)
        now = self._clock()
        lo = as_instant(start, tz, end_of_day=False) if start is not None else now
        hi = as_instant(end, tz, end_of_day=True) if end is not None else lo + DEFAULT_RANGE
        if hi <= lo:
            raise InvalidInput("'to' must be after 'from'.")
        if hi - lo > MAX_RANGE:
            raise InvalidInput("The range can be at most 31 days.")
        return max(lo, now), hi

    async def next_free(self, practitioner_id: str) -> list[s.SlotOut]:
        """The practitioner's next few free slots (offered after a lost race)."""
        now = self._clock()
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            row = await repo.practitioner(practitioner_id)
            if row is None:
                return []
            free: list[Any] = []
            start = now
            # Widen the window only as needed: a lost race usually finds its
            # alternatives the same day, and 49 losers at once should not each
            # derive two weeks of slots.
            for span in NEXT_WINDOWS:
                end = min(now + span, now + DEFAULT_RANGE)
                free += await free_slots_of(repo, [row], start, end)
                if len(free) >= NEXT_SLOTS or end >= now + DEFAULT_RANGE:
                    break
                start = end
            free = free[:NEXT_SLOTS]
            specialties = await repo.specialties_of([practitioner_id])
            return [slot_out(sl, r, specialties.get(practitioner_id, [])) for sl, r in free]


async def _why_empty(
    repo: SchedulingRepository, rows: list[PractitionerRow], start: datetime, end: datetime
) -> tuple[s.EmptyReason, date | None]:
    """Why [start, end) has no free slot, and the first later day that has one."""
    if not rows:
        return s.EmptyReason.NO_PRACTITIONER, None
    offered = await offered_slots_of(repo, rows, start, end)
    reason = s.EmptyReason.ALL_BOOKED if offered else s.EmptyReason.NO_HOURS
    # Month-sized windows: the arithmetic stays bounded however far the next slot is.
    lo = end
    while lo < end + NEXT_DATE_HORIZON:
        hi = min(lo + MAX_RANGE, end + NEXT_DATE_HORIZON)
        later = await free_slots_of(repo, rows, lo, hi)
        if later:
            slot, (_, _, facility) = later[0]
            return reason, slot.start.astimezone(ZoneInfo(facility.timezone)).date()
        lo = hi
    return reason, None
