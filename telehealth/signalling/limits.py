"""Per-connection rate limits: a token bucket for all events, a smaller one for chat, and
a count of refusals after which a flooding client is disconnected."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["Budget", "ConnectionLimits"]

# A browser trickles a dozen candidates at once and renegotiates rarely; 40 at once and
# 20 a second afterwards leaves it room, while a flood is refused at once.
EVENT_BURST: Final = 40.0
EVENT_RATE: Final = 20.0
CHAT_BURST: Final = 5.0
CHAT_RATE: Final = 1.0
# This many refusals within STRIKE_WINDOW seconds and the connection is closed.
STRIKES: Final = 100
STRIKE_WINDOW: Final = 10.0


@dataclass
class Budget:
    """A token bucket: `burst` at once, refilled at `rate` per second."""

    burst: float
    rate: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.updated = self.clock()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class ConnectionLimits:
    """The budgets of one connection and its recent refusals."""

    clock: Callable[[], float] = time.monotonic
    events: Budget = field(init=False)
    chat: Budget = field(init=False)
    refusals: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events = Budget(EVENT_BURST, EVENT_RATE, self.clock)
        self.chat = Budget(CHAT_BURST, CHAT_RATE, self.clock)

    def allow(self, event: str) -> bool:
        """Whether this event may be handled now."""
        allowed = self.events.take() and (event != "chat" or self.chat.take())
        if not allowed:
            now = self.clock()
            self.refusals = [t for t in self.refusals if now - t < STRIKE_WINDOW]
            self.refusals.append(now)
        return allowed

    @property
    def flooding(self) -> bool:
        """Too many refusals in the window: the client ignores `rate_limited`."""
        now = self.clock()
        self.refusals = [t for t in self.refusals if now - t < STRIKE_WINDOW]
        return len(self.refusals) >= STRIKES
