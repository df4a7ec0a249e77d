"""Slots derived from weekly rules in Asia/Ho_Chi_Minh land on the right UTC instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from telehealth.errors import NotFound
from telehealth.scheduling.slots import (
    WeeklyRule,
    blocks_of,
    generate_slots,
    parse_slot_id,
    rules_overlap,
    slot_id,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = date(2026, 11, 23)


def _day(rule: WeeklyRule, blocks: list[tuple[datetime, datetime]] | None = None) -> list[str]:
    start = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # Monday 00:00 in Vietnam
    end = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    return [
        s.start.strftime("%H:%M") for s in generate_slots([rule], blocks or [], HCM, start, end)
    ]


def test_local_morning_becomes_utc_night_before() -> None:
    rule = WeeklyRule(weekday=0, start=time(7, 30), end=time(9, 0), slot_minutes=30)
    start = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    end = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    slots = generate_slots([rule], [], HCM, start, end)
    # 07:30 in Hà Nội (UTC+7) is 00:30 UTC on the same Monday.
    assert [s.start for s in slots] == [
        datetime(2026, 11, 23, 0, 30, tzinfo=UTC),
        datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 1, 30, tzinfo=UTC),
    ]
    assert all(s.end - s.start == (slots[0].end - slots[0].start) for s in slots)


def test_breaks_and_partial_slots_are_left_out() -> None:
    rule = WeeklyRule(
        weekday=0,
        start=time(8, 0),
        end=time(12, 10),
        slot_minutes=60,
        breaks=((time(10, 0), time(10, 30)),),
    )
    # 08:00 and 09:00 local; 10:00 meets the break, so slots resume at 10:30; 11:30 would
    # run past 12:10.
    assert _day(rule) == ["01:00", "02:00", "03:30"]


def test_blocks_remove_slots_they_touch() -> None:
    rule = WeeklyRule(weekday=0, start=time(8, 0), end=time(10, 0), slot_minutes=30)
    leave = (datetime(2026, 11, 23, 1, 15, tzinfo=UTC), datetime(2026, 11, 23, 1, 45, tzinfo=UTC))
    assert _day(rule, [leave]) == ["02:00", "02:30"]


def test_validity_range_and_weekday() -> None:
    rule = WeeklyRule(
        weekday=0,
        start=time(8, 0),
        end=time(9, 0),
        slot_minutes=30,
        valid_from=date(2026, 11, 24),
    )
    assert _day(rule) == []
    tuesday = WeeklyRule(weekday=1, start=time(8, 0), end=time(9, 0), slot_minutes=30)
    assert _day(tuesday) == []


def test_slot_ids_round_trip_and_reject_garbage() -> None:
    start = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    pid, when = parse_slot_id(slot_id("abc-123", start))
    assert (pid, when) == ("abc-123", start)
    for bad in ("nonsense", "abc_2026", "_20261123T0030Z", "x_20261399T0030Z"):
        with pytest.raises(NotFound):
            parse_slot_id(bad)


def test_blocks_cover_the_slot_in_five_minute_steps() -> None:
    start = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    blocks = blocks_of(start, datetime(2026, 11, 23, 0, 50, tzinfo=UTC))
    assert len(blocks) == 4
    assert blocks[-1] == datetime(2026, 11, 23, 0, 45, tzinfo=UTC)


def test_overlapping_rules_are_found() -> None:
    a = WeeklyRule(weekday=2, start=time(8, 0), end=time(11, 0), slot_minutes=30)
    b = WeeklyRule(weekday=2, start=time(10, 0), end=time(12, 0), slot_minutes=20)
    c = WeeklyRule(weekday=3, start=time(10, 0), end=time(12, 0), slot_minutes=20)
    assert rules_overlap([a, c]) is None
    assert rules_overlap([a, b, c]) == (a, b)
