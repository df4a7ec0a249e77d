"""The sign-in throttle: a stranger guessing from one address locks only that address
out of the account (progressively); guesses from many addresses slow the account down
but never lock its owner out."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from telehealth.config import Settings, ThrottlePolicy
from tests.support.network import PASSWORD, Network


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Addresses taken from X-Forwarded-For, so one test can speak from many."""
    policy = ThrottlePolicy(
        account_delay=timedelta(milliseconds=50), max_account_delay=timedelta(seconds=1)
    )
    return settings.with_overrides(trust_proxy=True, throttle=policy)


async def _login(network: Network, username: str, password: str, address: str) -> Any:
    return await network.client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )


async def test_a_stranger_cannot_lock_the_owner_out(network: Network) -> None:
    stranger = [
        (await _login(network, "doctor_a", "wrong", "203.0.113.9")).status for _ in range(6)
    ]
    assert stranger == [401] * 5 + [429]
    # The right password from the stranger's address is refused too...
    assert (await _login(network, "doctor_a", PASSWORD, "203.0.113.9")).status == 429
    # ...but the owner, elsewhere, signs in.
    assert (await _login(network, "doctor_a", PASSWORD, "198.51.100.7")).status == 200


async def test_a_pair_lockout_grows_with_each_further_failure(network: Network) -> None:
    for _ in range(5):
        await _login(network, "doctor_a", "wrong", "203.0.113.9")
    first = await _login(network, "doctor_a", "wrong", "203.0.113.9")
    first_wait = int(first.headers["Retry-After"])
    assert 0 < first_wait <= 60
    # Lockouts double: 1 min after the 5th failure, 2 min after the 6th, up to 15 min.
    policy = ThrottlePolicy()
    from telehealth.auth.throttle import Counter, LoginThrottleStore

    store = LoginThrottleStore(None, policy)  # type: ignore[arg-type]
    waits = [store._lockout(Counter.PAIR, n) for n in range(4, 11)]
    assert waits == [
        None,
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=8),
        timedelta(minutes=15),
        timedelta(minutes=15),
    ]


async def test_many_addresses_slow_an_account_down_without_blocking_it(network: Network) -> None:
    # 4 failures from each of 4 addresses: no pair reaches its limit, the account passes 10.
    for n in range(4):
        for _ in range(4):
            resp = await _login(network, "doctor_a", "wrong", f"203.0.113.{n + 1}")
            assert resp.status == 401
    started = time.perf_counter()
    owner = await _login(network, "doctor_a", PASSWORD, "198.51.100.7")
    elapsed = time.perf_counter() - started
    assert owner.status == 200
    # 16 failures, 6 past the limit: 50 ms doubled 6 times, capped at 1 s.
    assert elapsed >= 1.0


async def test_an_address_guessing_many_accounts_is_locked_out_alone(network: Network) -> None:
    statuses = [
        (await _login(network, f"guess{i}", "wrong", "203.0.113.9")).status for i in range(21)
    ]
    assert statuses == [401] * 20 + [429]
    assert (await _login(network, "doctor_b", PASSWORD, "203.0.113.9")).status == 429
    assert (await _login(network, "doctor_b", PASSWORD, "198.51.100.7")).status == 200
