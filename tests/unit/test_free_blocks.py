"""The held-block filter of free slots: exact on the 5-minute grid, safe off it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telehealth.scheduling.free import grid_blocks, held_blocks
from telehealth.scheduling.slots import SlotTime

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _free(slot: SlotTime, bookings: list[tuple[datetime, datetime]]) -> bool:
    return held_blocks(bookings).isdisjoint(grid_blocks(slot.start, slot.end))


def test_a_slot_is_free_exactly_when_no_booking_overlaps_it_on_the_grid() -> None:
    slots = [SlotTime(T0 + 15 * i * MIN, T0 + 15 * (i + 1) * MIN) for i in range(8)]
    bookings = [(T0 + 20 * MIN, T0 + 35 * MIN), (T0 + 90 * MIN, T0 + 120 * MIN)]
    for slot in slots:
        overlapping = any(slot.overlaps(a, b) for a, b in bookings)
        assert _free(slot, bookings) is not overlapping, slot


def test_touching_ends_do_not_block() -> None:
    slot = SlotTime(T0 + 15 * MIN, T0 + 30 * MIN)
    assert _free(slot, [(T0, T0 + 15 * MIN), (T0 + 30 * MIN, T0 + 45 * MIN)])


def test_a_booking_off_the_grid_still_blocks_every_slot_it_meets() -> None:
    booking = [(T0 + 14 * MIN, T0 + 16 * MIN)]
    assert not _free(SlotTime(T0, T0 + 15 * MIN), booking)
    assert not _free(SlotTime(T0 + 15 * MIN, T0 + 30 * MIN), booking)
    assert _free(SlotTime(T0 + 30 * MIN, T0 + 45 * MIN), booking)


def test_blocks_are_floored_to_the_grid_in_utc() -> None:
    start = datetime(2026, 3, 2, 8, 7, 30, tzinfo=UTC)
    assert list(grid_blocks(start, start + 10 * MIN)) == [
        datetime(2026, 3, 2, 8, 5, tzinfo=UTC),
        datetime(2026, 3, 2, 8, 10, tzinfo=UTC),
        datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
    ]
