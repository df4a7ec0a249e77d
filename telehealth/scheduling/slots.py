"""Deriving bookable slots from weekly rules, breaks and one-off blocks (pure functions).

Rules are in the facility's local time; slots come out in UTC. Slot ids are derived,
not stored: `<practitioner id>_<UTC start as YYYYMMDDTHHMMZ>`, so changing a rule never
leaves orphaned slot rows behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from telehealth.errors import NotFound

BLOCK = timedelta(minutes=5)
SLOT_ID_FORMAT = "%Y%m%dT%H%MZ"


@dataclass(frozen=True)
class WeeklyRule:
    """A weekly window of one weekday, cut into equal slots around breaks."""

    weekday: int
    start: time
    end: time
    slot_minutes: int
    breaks: tuple[tuple[time, time], ...] = ()
    valid_from: date = date.min
    valid_until: date | None = None

    def applies_on(self, day: date) -> bool:
        """True if the rule offers slots on this local date."""
        in_range = self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)
        return in_range and day.weekday() == self.weekday


@dataclass(frozen=True, order=True)
class SlotTime:
    """One slot in UTC."""

    start: datetime
    end: datetime

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """True if [start, end) meets this slot."""
        return self.start < end and start < self.end


def slot_id(practitioner_id: str, start: datetime) -> str:
    """The stable id of a practitioner's slot starting at `start`."""
    return f"{practitioner_id}_{start.astimezone(UTC).strftime(SLOT_ID_FORMAT)}"


def parse_slot_id(value: str) -> tuple[str, datetime]:
    """Split a slot id; a malformed one is simply a slot that does not exist."""
    practitioner_id, sep, stamp = value.rpartition("_")
    try:
        if not sep or not practitioner_id:
            raise ValueError(value)
        start = datetime.strptime(stamp, SLOT_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise NotFound("No such slot.") from exc
    return practitioner_id, start


def _local_slots(rule: WeeklyRule, day: date, tz: ZoneInfo) -> Iterator[SlotTime]:
    length = timedelta(minutes=rule.slot_minutes)
    cursor = datetime.combine(day, rule.start, tzinfo=tz)
    stop = datetime.combine(day, rule.end, tzinfo=tz)
    breaks = [
        (datetime.combine(day, b0, tzinfo=tz), datetime.combine(day, b1, tzinfo=tz))
        for b0, b1 in rule.breaks
    ]
    while cursor + length <= stop:
        end = cursor + length
        hit = [b1 for b0, b1 in breaks if cursor < b1 and b0 < end]
        if hit:
            cursor = max(hit)  # resume when the break is over
            continue
        yield SlotTime(cursor.astimezone(UTC), end.astimezone(UTC))
        cursor = end


def generate_slots(
    rules: Iterable[WeeklyRule],
    blocks: Iterable[tuple[datetime, datetime]],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[SlotTime]:
    """Every slot starting in [start, end), minus those meeting a block, sorted."""
    rules = list(rules)
    blocks = list(blocks)
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    found: set[SlotTime] = set()
    day = first
    while day <= last:
        for rule in rules:
            if rule.applies_on(day):
                found.update(
                    s
                    for s in _local_slots(rule, day, tz)
                    if start <= s.start < end and not any(s.overlaps(b0, b1) for b0, b1 in blocks)
                )
        day += timedelta(days=1)
    return sorted(found)


def blocks_of(start: datetime, end: datetime) -> list[datetime]:
    """The 5-minute blocks [start, end) covers (slots are aligned to 5 minutes)."""
    out = []
    cursor = start.astimezone(UTC)
    while cursor < end:
        out.append(cursor)
        cursor += BLOCK
    return out


def rules_overlap(rules: list[WeeklyRule]) -> tuple[WeeklyRule, WeeklyRule] | None:
    """Two rules of the same weekday whose windows and validity meet, if any."""
    for i, a in enumerate(rules):
        for b in rules[i + 1 :]:
            same_day = a.weekday == b.weekday
            times_meet = a.start < b.end and b.start < a.end
            a_until = a.valid_until or date.max
            b_until = b.valid_until or date.max
            dates_meet = a.valid_from <= b_until and b.valid_from <= a_until
            if same_day and times_meet and dates_meet:
                return a, b
    return None
