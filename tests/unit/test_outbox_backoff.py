"""Retry backoff: exponential growth, a bound, and jitter within its range."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from telehealth.outbox.backoff import MAX_BACKOFF_SECONDS, backoff_delay

BASE = 30.0


def seconds(attempts: int, draw: float, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """The delay for a fixed jitter draw."""
    return backoff_delay(attempts, BASE, cap_seconds=cap, rng=lambda: draw).total_seconds()


def test_backoff_doubles_with_each_failed_attempt() -> None:
    ceilings = [seconds(n, 1.0) for n in range(1, 7)]
    assert ceilings == [30, 60, 120, 240, 480, 960]
    floors = [seconds(n, 0.0) for n in range(1, 7)]
    assert floors == [15, 30, 60, 120, 240, 480]


def test_backoff_never_shrinks_from_one_attempt_to_the_next_below_the_cap() -> None:
    rng = random.Random(7)  # noqa: S311 (jitter draws, not secrets)
    for attempts in range(1, 7):  # 30 s * 2**6 is the last ceiling under the one-hour cap
        assert seconds(attempts + 1, 0.0) >= seconds(attempts, 1.0)
        assert seconds(attempts + 1, rng.random()) >= seconds(attempts, rng.random())


def test_backoff_stays_under_the_cap_even_after_very_many_attempts() -> None:
    assert seconds(10_000, 1.0) == MAX_BACKOFF_SECONDS
    assert seconds(10_000, 0.0) == MAX_BACKOFF_SECONDS / 2
    assert seconds(12, 1.0, cap=600.0) == 600.0


def test_jitter_spreads_delays_over_the_upper_half_of_the_ceiling() -> None:
    rng = random.Random(42)  # noqa: S311 (jitter draws, not secrets)
    delays = [backoff_delay(4, BASE, rng=rng.random) for _ in range(2000)]
    ceiling = timedelta(seconds=BASE * 8)
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    # Jitter at all: the draws cover the range instead of collapsing on one value.
    assert min(delays) < ceiling * 0.55
    assert max(delays) > ceiling * 0.95
    assert len(set(delays)) > 1900


def test_the_default_jitter_is_random_and_in_range() -> None:
    delays = {backoff_delay(1, BASE) for _ in range(50)}
    assert len(delays) > 1
    assert all(timedelta(seconds=15) <= d <= timedelta(seconds=30) for d in delays)


def test_backoff_is_only_for_a_failed_attempt() -> None:
    with pytest.raises(ValueError, match="attempts=0"):
        backoff_delay(0, BASE)
