"""Sign-in behaviour: same answer for unknown users and wrong passwords, throttling,
fresh session tokens, server-side logout, timeouts and CSRF on cookie writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from telehealth import keys
from telehealth.auth.models import AuthSession
from telehealth.auth.sessions import digest
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from tests.support.network import PASSWORD, Network

COOKIE = "th_session"


def _without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


async def _login(client: TestClient[Any, Any], username: str, password: str) -> Any:
    # A browser sends Origin with every POST; a cookie without it is refused as CSRF.
    origin = {"Origin": client.app[keys.SETTINGS].public_url}
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, headers=origin
    )


async def test_unknown_user_and_wrong_password_get_the_same_answer(network: Network) -> None:
    unknown = await _login(network.client, "nobody.here", "whatever password")
    wrong = await _login(network.client, "doctor_a", "not the password")
    assert unknown.status == wrong.status == 401
    assert unknown.content_type == wrong.content_type == "application/problem+json"
    assert _without_request_id(await unknown.json()) == _without_request_id(await wrong.json())


async def test_repeated_failures_are_throttled_per_account_and_address(network: Network) -> None:
    # Locked for this address only: tests/integration/test_login_throttle.py shows the
    # owner signing in from another one.
    statuses = [(await _login(network.client, "doctor_a", "wrong")).status for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    locked = await _login(network.client, "doctor_a", PASSWORD)
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert (await locked.json())["code"] == "rate_limited"
    # Another account from the same address is not locked by these five failures.
    assert (await _login(network.client, "doctor_b", PASSWORD)).status == 200


async def test_repeated_failures_are_throttled_per_address(network: Network) -> None:
    statuses = [(await _login(network.client, f"guess{i}", "wrong")).status for i in range(21)]
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429
    assert (await _login(network.client, "doctor_b", PASSWORD)).status == 429


async def test_unknown_users_are_throttled_like_real_ones(network: Network) -> None:
    statuses = [(await _login(network.client, "ghost", "wrong")).status for _ in range(6)]
    assert statuses == [401] * 5 + [429]


async def test_login_issues_a_new_token_every_time(network: Network) -> None:
    client = network.client
    client.session.cookie_jar.update_cookies({COOKIE: "planted-by-an-attacker"})
    first = await _login(client, "doctor_a", PASSWORD)
    assert first.status == 200
    token1 = first.cookies[COOKIE].value
    second = await _login(client, "doctor_a", PASSWORD)
    token2 = second.cookies[COOKIE].value
    assert token1 != token2
    assert "planted-by-an-attacker" not in (token1, token2)
    assert first.cookies[COOKIE]["httponly"]
    assert first.cookies[COOKIE]["samesite"] == "Lax"


async def test_logout_ends_the_session_on_the_server(network: Network) -> None:
    client = network.client
    resp = await _login(client, "doctor_a", PASSWORD)
    token = resp.cookies[COOKIE].value
    assert (await client.get("/api/v1/me")).status == 200
    out = await client.post("/api/v1/auth/logout", headers=network.origin)
    assert out.status == 204
    # Replaying the old cookie value does not bring the session back.
    client.session.cookie_jar.update_cookies({COOKIE: token})
    assert (await client.get("/api/v1/me")).status == 401


async def test_logout_revokes_a_bearer_token(network: Network) -> None:
    headers = await network.headers("doctor_a")
    assert (await network.client.post("/api/v1/auth/logout", headers=headers)).status == 204
    assert (await network.client.get("/api/v1/me", headers=headers)).status == 401


async def _age_session(client: TestClient[Any, Any], token: str, **values: Any) -> None:
    async with UnitOfWork(client.app[keys.SESSIONMAKER]) as uow:
        await uow.session.execute(
            update(AuthSession).where(AuthSession.token_hash == digest(token)).values(**values)
        )
        await uow.commit()


async def test_idle_session_expires(network: Network) -> None:
    client = network.client
    token = (await _login(client, "doctor_a", PASSWORD)).cookies[COOKIE].value
    idle = client.app[keys.SETTINGS].sessions.idle_timeout
    await _age_session(client, token, last_seen_at=utcnow() - idle - timedelta(seconds=1))
    assert (await client.get("/api/v1/me")).status == 401


async def test_session_expires_at_its_absolute_limit(network: Network) -> None:
    client = network.client
    token = (await _login(client, "doctor_a", PASSWORD)).cookies[COOKIE].value
    await _age_session(client, token, expires_at=utcnow() - timedelta(seconds=1))
    assert (await client.get("/api/v1/me")).status == 401


async def test_cookie_writes_need_a_same_site_origin(network: Network) -> None:
    client = network.client
    await _login(client, "admin", PASSWORD)
    body = {"code": "X1", "name": "Trạm X", "level": "commune", "province": "Lai Châu"}
    no_origin = await client.post("/api/v1/facilities", json=body)
    foreign = await client.post(
        "/api/v1/facilities", json=body, headers={"Origin": "https://evil.example"}
    )
    assert no_origin.status == foreign.status == 403
    assert (await foreign.json())["code"] == "csrf_failed"
    listed = await client.get("/api/v1/facilities")
    assert "X1" not in {f["code"] for f in (await listed.json())["items"]}
    same = await client.post("/api/v1/facilities", json=body, headers=network.origin)
    assert same.status == 201


async def test_an_inactive_user_cannot_sign_in(network: Network) -> None:
    await network.client.patch(
        f"/api/v1/users/{network.users['trainer']}",
        json={"active": False},
        headers=await network.headers("admin"),
    )
    inactive = await _login(network.client, "trainer", PASSWORD)
    unknown = await _login(network.client, "nobody.here", PASSWORD)
    assert inactive.status == 401
    assert _without_request_id(await inactive.json()) == _without_request_id(await unknown.json())


async def test_the_stored_token_is_a_digest(network: Network) -> None:
    client = network.client
    token = (await _login(client, "doctor_a", PASSWORD)).cookies[COOKIE].value
    async with UnitOfWork(client.app[keys.SESSIONMAKER]) as uow:
        from sqlalchemy import select

        stored = (await uow.session.scalars(select(AuthSession.token_hash))).all()
    assert digest(token) in stored
    assert token not in stored
