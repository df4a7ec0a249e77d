"""The token lookup on every request: one read-only statement; `last_seen_at` only when due."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select, update

from telehealth import keys
from telehealth.auth.models import AuthSession
from telehealth.auth.sessions import TOUCH_INTERVAL, digest
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from tests.support.network import PASSWORD, Network


@contextmanager
def _statements(network: Network, on: list[object] | None = None) -> Iterator[list[str]]:
    """The statements of the app's engines (the writer and, on SQLite, the readers) in the
    block, but the audit sequencer's (it chains on its own schedule). With `on`, the
    connection of each statement is appended there, in step."""
    seen: list[str] = []
    app = network.client.app
    engines = [app[keys.ENGINE].sync_engine]
    reader = app[keys.SESSIONMAKER].kw.get("info", {}).get("telehealth_reader")
    if reader is not None:
        engines.append(reader)

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "audit_" in statement:
            return
        seen.append(" ".join(statement.split()))
        if on is not None:
            on.append(conn)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _last_seen(network: Network, token: str) -> datetime:
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER], read_only=True) as uow:
        found = await uow.session.scalar(
            select(AuthSession.last_seen_at).where(AuthSession.token_hash == digest(token))
        )
    assert found is not None
    return found


async def _set_last_seen(network: Network, token: str, value: datetime) -> None:
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        await uow.session.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == digest(token))
            .values(last_seen_at=value)
        )
        await uow.commit()


async def test_the_lookup_is_one_select_of_session_user_and_roles(network: Network) -> None:
    headers = await network.headers("doctor_a")
    connections: list[object] = []
    with _statements(network, connections) as seen:
        resp = await network.client.get("/api/v1/me", headers=headers)
    assert resp.status == 200
    assert "doctor" in (await resp.json())["roles"]
    lookups = [s for s in seen if "auth_sessions" in s]
    assert len(lookups) == 1, lookups
    assert lookups[0].startswith("SELECT")
    assert "JOIN users" in lookups[0]
    assert "user_roles" in lookups[0]
    # A fresh token is not due for a touch: nothing was written, and on SQLite the lookup
    # began deferred, without the write lock (asyncpg's BEGIN is not a cursor statement).
    assert not [s for s in seen if s.startswith(("UPDATE", "INSERT", "DELETE"))]
    at = seen.index(lookups[0])
    before = [s for s, c in zip(seen[:at], connections[:at], strict=True) if c is connections[at]]
    assert before in ([], ["BEGIN"])


async def test_a_stale_last_seen_is_touched_in_a_write_of_its_own(network: Network) -> None:
    headers = await network.headers("doctor_a")
    token = _token(headers)
    stale = utcnow() - TOUCH_INTERVAL - timedelta(seconds=5)
    await _set_last_seen(network, token, stale)
    with _statements(network) as seen:
        assert (await network.client.get("/api/v1/me", headers=headers)).status == 200
    touches = [s for s in seen if s.startswith("UPDATE auth_sessions")]
    assert len(touches) == 1, seen
    assert await _last_seen(network, token) > stale + TOUCH_INTERVAL
    # Once touched, the next request does not write again.
    with _statements(network) as seen:
        assert (await network.client.get("/api/v1/me", headers=headers)).status == 200
    assert not [s for s in seen if s.startswith("UPDATE auth_sessions")]


async def test_the_touch_never_moves_last_seen_back(network: Network) -> None:
    headers = await network.headers("doctor_a")
    token = _token(headers)
    ahead = utcnow() + timedelta(hours=1)
    await _set_last_seen(network, token, ahead)
    # Not due (now is before last_seen_at), and a touch would not lower it anyway.
    assert (await network.client.get("/api/v1/me", headers=headers)).status == 200
    assert await _last_seen(network, token) == ahead


async def test_a_touched_cookie_session_stays_alive_past_the_idle_timeout(
    network: Network,
) -> None:
    client = network.client
    origin = {"Origin": client.app[keys.SETTINGS].public_url}
    login = await client.post(
        "/api/v1/auth/login",
        json={"username": "doctor_a", "password": PASSWORD},
        headers=origin,
    )
    assert login.status == 200, await login.text()
    cookie = login.cookies[client.app[keys.SETTINGS].sessions.cookie_name].value
    idle = client.app[keys.SETTINGS].sessions.idle_timeout
    # Used just inside the idle timeout: the touch must land, or the next check would fail.
    await _set_last_seen(network, cookie, utcnow() - idle + timedelta(seconds=30))
    assert (await client.get("/api/v1/me")).status == 200
    assert await _last_seen(network, cookie) > utcnow() - timedelta(seconds=30)
