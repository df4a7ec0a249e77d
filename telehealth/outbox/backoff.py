"""How long a message waits before its next attempt after a failed delivery."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

# An hour at most between attempts: a gateway that is down for the afternoon is retried
# soon after it returns, and a misconfigured base can never push a reminder into next week.
MAX_BACKOFF_SECONDS = 3600.0
# 2**62 seconds is already far past any cap; stops the power from growing without end.
_MAX_EXPONENT = 62


def backoff_delay(
    attempts: int,
    base_seconds: float,
    *,
    cap_seconds: float = MAX_BACKOFF_SECONDS,
    rng: Callable[[], float] = random.random,
) -> timedelta:
    """The wait after the `attempts`-th failure: `base * 2**(attempts-1)`, capped, with jitter.

    The jitter is "equal jitter": a uniform draw from the upper half of the ceiling. Nodes
    that failed together spread out, and the wait still never shrinks from one attempt to
    the next (attempt n waits at most c, attempt n+1 at least c).
    """
    if attempts < 1:
        raise ValueError(f"backoff is for a failed attempt, got attempts={attempts}")
    exponent = min(attempts - 1, _MAX_EXPONENT)
    ceiling = min(cap_seconds, base_seconds * 2.0**exponent)
    return timedelta(seconds=ceiling * (0.5 + 0.5 * rng()))
