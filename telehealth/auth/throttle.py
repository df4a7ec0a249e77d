"""Failed sign-in counting, stored in the database so every node sees the same counts.

Three counters, so that a stranger can slow an account down but never lock its owner
out:

- `pair:<account>|<address>`: one address guessing one account. It is locked out after
  `per_pair` failures, for `first_lockout`, doubling with each further failure up to
  `lockout` (progressive delays).
- `address:<address>`: one address guessing many accounts; locked out after
  `per_address` failures. It only ever locks out the guessing address.
- `account:<account>`: many addresses guessing one account. It never locks: past
  `per_account` failures each attempt on the account waits a growing delay (up to
  `max_account_delay`), the right password included, so the owner still gets in.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.auth.models import LoginThrottle
from telehealth.config import ThrottlePolicy
from telehealth.errors import RateLimited

__all__ = ["Counter", "LoginThrottleStore", "throttle_keys"]


class Counter(StrEnum):
    """What a throttle key counts."""

    PAIR = "pair"
    ADDRESS = "address"
    ACCOUNT = "account"


def throttle_keys(username: str, client_address: str | None) -> dict[str, Counter]:
    """The keys an attempt counts against, with what each one counts."""
    account = username.strip().lower()
    keys = {
        f"account:{account}": Counter.ACCOUNT,
        f"pair:{account}|{client_address or '-'}": Counter.PAIR,
    }
    if client_address:
        keys[f"address:{client_address}"] = Counter.ADDRESS
    return keys


class LoginThrottleStore:
    """Reads and updates throttle rows inside the caller's transaction."""

    def __init__(self, session: AsyncSession, policy: ThrottlePolicy) -> None:
        self._session = session
        self._policy = policy

    async def check(self, keys: dict[str, Counter], now: datetime) -> float:
        """Raise `RateLimited` if a pair or address key is locked out; otherwise the
        seconds this attempt must wait because its account is under attack."""
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
        return max(
            (self._account_delay(row, now) for row in rows if keys[row.key] is Counter.ACCOUNT),
            default=0.0,
        )

    def _account_delay(self, row: LoginThrottle, now: datetime) -> float:
        if now - row.window_start > self._policy.window:
            return 0.0
        excess = row.failures - self._policy.per_account
        if excess < 0:
            return 0.0
        delay = self._policy.account_delay.total_seconds() * (1 << min(excess, 16))
        return min(delay, self._policy.max_account_delay.total_seconds())

    async def record_failure(self, keys: dict[str, Counter], now: datetime) -> None:
        """Count one failure on every key; lock out a pair or address at its limit."""
        existing = {row.key: row for row in await self._rows(keys)}
        for key, counter in keys.items():
            row = existing.get(key)
            if row is None:
                row = LoginThrottle(key=key, failures=0, window_start=now)
                self._session.add(row)
            if now - row.window_start > self._policy.window:
                row.failures, row.window_start, row.locked_until = 0, now, None
            row.failures += 1
            lockout = self._lockout(counter, row.failures)
            if lockout is not None:
                row.locked_until = now + lockout
        await self._session.flush()

    def _lockout(self, counter: Counter, failures: int) -> timedelta | None:
        policy = self._policy
        if counter is Counter.PAIR and failures >= policy.per_pair:
            # A pair that keeps failing waits twice as long each time, up to the lockout.
            progressive = policy.first_lockout * (1 << min(failures - policy.per_pair, 16))
            return min(progressive, policy.lockout)
        if counter is Counter.ADDRESS and failures >= policy.per_address:
            return policy.lockout
        return None

    async def reset_pair(self, username: str, client_address: str | None) -> None:
        """Forget one address's failures on an account after it signed in.

        The account counter is left to run out with its window: an owner signing in does
        not end an attack coming from elsewhere.
        """
        pair = [k for k, c in throttle_keys(username, client_address).items() if c is Counter.PAIR]
        await self._session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(pair)))

    async def count_attempt(self, key: str, limit: int, window: timedelta, now: datetime) -> None:
        """Count an attempt of a throttled action (not a sign-in); refuse past `limit` in
        `window` with `RateLimited`."""
        row = await self._session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now)
            self._session.add(row)
        if now - row.window_start > window:
            row.failures, row.window_start, row.locked_until = 0, now, None
        if row.failures >= limit:
            retry = row.window_start + window - now
            raise RateLimited(
                "Too many attempts from this address; try again later.",
                retry_after=max(1, math.ceil(retry.total_seconds())),
            )
        row.failures += 1
        await self._session.flush()

    async def locked_out(self, key: str, now: datetime) -> bool:
        """True if `key` is locked out now (e.g. an address locked out of sign-in)."""
        row = await self._session.get(LoginThrottle, key)
        return row is not None and row.locked_until is not None and row.locked_until > now

    async def _rows(self, keys: dict[str, Counter]) -> list[LoginThrottle]:
        result = await self._session.scalars(
            select(LoginThrottle).where(LoginThrottle.key.in_(list(keys)))
        )
        return list(result.all())
