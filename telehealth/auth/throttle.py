"""Failed sign-in counting per account and per client address, stored in the database."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.auth.models import LoginThrottle
from telehealth.config import ThrottlePolicy
from telehealth.errors import RateLimited


def throttle_keys(username: str, client_address: str | None) -> dict[str, int]:
    """The keys an attempt counts against, with which policy limit applies to each."""
    keys = {f"account:{username.strip().lower()}": 0}
    if client_address:
        keys[f"address:{client_address}"] = 1
    return keys


class LoginThrottleStore:
    """Reads and updates throttle rows inside the caller's transaction."""

    def __init__(self, session: AsyncSession, policy: ThrottlePolicy) -> None:
        self._session = session
        self._policy = policy

    async def check(self, keys: dict[str, int], now: datetime) -> None:
        """Raise `RateLimited` if any key is locked out."""
        rows = await self._rows(keys)
        waits = [
            (row.locked_until - now).total_seconds()
            for row in rows
            if row.locked_until is not None and row.locked_until > now
        ]
        if waits:
            raise RateLimited(
                "Too many failed sign-in attempts; try again later.",
                retry_after=max(1, math.ceil(max(waits))),
            )

    async def record_failure(self, keys: dict[str, int], now: datetime) -> None:
        """Count one failure on every key; lock a key that reaches its limit."""
        existing = {row.key: row for row in await self._rows(keys)}
        limits = (self._policy.per_account, self._policy.per_address)
        for key, which in keys.items():
            row = existing.get(key)
            if row is None:
                row = LoginThrottle(key=key, failures=0, window_start=now)
                self._session.add(row)
            if now - row.window_start > self._policy.window:
                row.failures, row.window_start, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures >= limits[which]:
                row.locked_until = now + self._policy.lockout
        await self._session.flush()

    async def reset_account(self, username: str) -> None:
        """Forget an account's failures after a successful sign-in."""
        key = next(iter(throttle_keys(username, None)))
        await self._session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))

    async def _rows(self, keys: dict[str, int]) -> list[LoginThrottle]:
        result = await self._session.scalars(
            select(LoginThrottle).where(LoginThrottle.key.in_(list(keys)))
        )
        return list(result.all())
