"""Free-slot arithmetic over stored rules, blocks and bookings."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from telehealth.accounts.models import Facility, Practitioner, User
from telehealth.accounts.service import facility_ref
from telehealth.errors import NotFound, Unprocessable
from telehealth.scheduling import schemas as s
from telehealth.scheduling.models import (
    Appointment,
    AvailabilityBlock,
    AvailabilityRule,
)
from telehealth.scheduling.repository import SchedulingRepository
from telehealth.scheduling.slots import (
    BLOCK,
    SlotTime,
    WeeklyRule,
    generate_slots,
    parse_slot_id,
    slot_id,
)

DEFAULT_RANGE = timedelta(days=14)
PractitionerRow = tuple[Practitioner, User, Facility]


def weekly(rule: AvailabilityRule) -> WeeklyRule:
    """The pure form of a stored rule."""
    return WeeklyRule(
        weekday=rule.weekday,
        start=rule.start_time,
        end=rule.end_time,
        slot_minutes=rule.slot_minutes,
        breaks=tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in rule.breaks),
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
    )


class _OfPractitioner(Protocol):
    practitioner_id: str


R = TypeVar("R", bound=_OfPractitioner)


def group_by_practitioner(rows: Iterable[R]) -> dict[str, list[R]]:
    """Rows keyed by practitioner id."""
    out: dict[str, list[R]] = {}
    for row in rows:
        out.setdefault(row.practitioner_id, []).append(row)
    return out


def as_instant(value: datetime | date, tz: ZoneInfo, *, end_of_day: bool) -> datetime:
    """A date means local midnight (its end, for `end_of_day`); datetimes pass through."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    day = value + timedelta(days=1) if end_of_day else value
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def find_conflicts(
    upcoming: list[Appointment],
    rules: list[AvailabilityRule],
    blocks: list[AvailabilityBlock],
    tz: ZoneInfo,
) -> list[Appointment]:
    """Booked appointments whose slot the current rules and blocks no longer offer."""
    weekly_rules = [weekly(r) for r in rules]
    spans = [(b.start_at, b.end_at) for b in blocks]
    out = []
    for appt in upcoming:
        offered = generate_slots(
            weekly_rules, spans, tz, appt.start_at, appt.start_at + timedelta(minutes=1)
        )
        if not offered or offered[0].end != appt.end_at:
            out.append(appt)
    return out


def grid_blocks(start: datetime, end: datetime) -> Iterator[datetime]:
    """The 5-minute grid blocks that [start, end) meets, the first one floored to the grid."""
    # Validation keeps slots and bookings on the grid; flooring keeps the test safe (never
    # free when overlapping) even for a row that is not.
    cursor = start.astimezone(UTC)
    cursor -= timedelta(
        minutes=cursor.minute % 5, seconds=cursor.second, microseconds=cursor.microsecond
    )
    while cursor < end:
        yield cursor
        cursor += BLOCK


def held_blocks(spans: Iterable[tuple[datetime, datetime]]) -> set[datetime]:
    """Every 5-minute grid block the spans meet: a slot is free if it meets none of them."""
    return {block for start, end in spans for block in grid_blocks(start, end)}


def slot_out(slot: SlotTime, row: PractitionerRow, specialties: list[str]) -> s.SlotOut:
    """The API view of a free slot, in the facility's time zone."""
    practitioner, user, facility = row
    tz = ZoneInfo(facility.timezone)
    return s.SlotOut(
        id=slot_id(practitioner.id, slot.start),
        practitioner_id=practitioner.id,
        practitioner_name=user.full_name,
        facility=facility_ref(facility),
        specialties=specialties,
        start=slot.start.astimezone(tz),
        end=slot.end.astimezone(tz),
    )


async def offered_slots_of(
    repo: SchedulingRepository,
    rows: list[PractitionerRow],
    start: datetime,
    end: datetime,
) -> list[tuple[SlotTime, PractitionerRow]]:
    """Every slot these practitioners' hours offer in [start, end), booked or not."""
    if not rows or end <= start:
        return []
    ids = [r[0].id for r in rows]
    rules = group_by_practitioner(await repo.rules(ids))
    blocks = group_by_practitioner(await repo.blocks(ids, start, end))
    offered: list[tuple[SlotTime, PractitionerRow]] = []
    for row in rows:
        pid = row[0].id
        slots = generate_slots(
            [weekly(r) for r in rules.get(pid, [])],
            [(b.start_at, b.end_at) for b in blocks.get(pid, [])],
            ZoneInfo(row[2].timezone),
            start,
            end,
        )
        offered += [(sl, row) for sl in slots]
    return offered


async def free_slots_of(
    repo: SchedulingRepository,
    rows: list[PractitionerRow],
    start: datetime,
    end: datetime,
) -> list[tuple[SlotTime, PractitionerRow]]:
    """Every free slot of these practitioners in [start, end), soonest first."""
    offered = await offered_slots_of(repo, rows, start, end)
    if not offered:
        return []
    taken = group_by_practitioner(await repo.active_between([r[0].id for r in rows], start, end))
    held = {pid: held_blocks((a.start_at, a.end_at) for a in t) for pid, t in taken.items()}
    free = [
        (sl, row)
        for sl, row in offered
        if held.get(row[0].id, set()).isdisjoint(grid_blocks(sl.start, sl.end))
    ]
    free.sort(key=lambda f: (f[0].start, f[1][0].id))
    return free


async def find_slot(
    repo: SchedulingRepository, value: str, now: datetime
) -> tuple[SlotTime, PractitionerRow]:
    """The slot a slot id names, if the practitioner still offers it and it is ahead."""
    practitioner_id, start = parse_slot_id(value)
    row = await repo.practitioner(practitioner_id)
    if row is None or not row[1].active:
        raise NotFound("No such slot.")
    rules = await repo.rules([practitioner_id])
    blocks = await repo.blocks(
        [practitioner_id], start - timedelta(days=1), start + timedelta(days=1)
    )
    day = generate_slots(
        [weekly(r) for r in rules],
        [(b.start_at, b.end_at) for b in blocks],
        ZoneInfo(row[2].timezone),
        start,
        start + timedelta(minutes=1),
    )
    if not day:
        raise NotFound("No such slot.")
    if day[0].start <= now:
        raise Unprocessable("This slot has already started.")
    return day[0], row
