"""Deactivation, a role removal, a facility move and a password change end every session
and bearer token of the user for good: reactivating the user revives none of them."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from telehealth import keys
from tests.support.network import PASSWORD, Network

NEW_PASSWORD = "mưa rào trên đồi chè xanh"


async def _cookie(network: Network, username: str, password: str = PASSWORD) -> str:
    resp = await network.client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": password},
        headers=network.origin,
    )
    assert resp.status == 200, await resp.text()
    name = network.client.app[keys.SETTINGS].sessions.cookie_name
    value = resp.cookies[name].value
    network.client.session.cookie_jar.clear()
    return value


async def _me(client: TestClient[Any, Any], *, bearer: str = "", cookie: str = "") -> int:
    client.session.cookie_jar.clear()
    if cookie:
        name = client.app[keys.SETTINGS].sessions.cookie_name
        client.session.cookie_jar.update_cookies({name: cookie})
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    status = (await client.get("/api/v1/me", headers=headers)).status
    client.session.cookie_jar.clear()
    return status


async def _admin_patch(network: Network, username: str, body: dict[str, Any]) -> None:
    resp = await network.client.patch(
        f"/api/v1/users/{network.users[username]}",
        json=body,
        headers=await network.headers("admin"),
    )
    assert resp.status == 200, await resp.text()


async def test_reactivation_does_not_revive_old_tokens_or_sessions(network: Network) -> None:
    await network.headers("trainer")
    token = network.tokens["trainer"]
    cookie = await _cookie(network, "trainer")
    await _admin_patch(network, "trainer", {"active": False})
    await _admin_patch(network, "trainer", {"active": True})
    assert await _me(network.client, bearer=token) == 401
    assert await _me(network.client, cookie=cookie) == 401
    # The user signs in again and gets a working token.
    del network.tokens["trainer"]
    assert (
        await network.client.get("/api/v1/me", headers=await network.headers("trainer"))
    ).status == 200


async def test_removing_a_role_ends_every_session(network: Network) -> None:
    await network.headers("specialist")
    token = network.tokens["specialist"]
    await _admin_patch(network, "specialist", {"roles": ["doctor"]})
    assert await _me(network.client, bearer=token) == 401


async def test_adding_a_role_or_renaming_keeps_sessions(network: Network) -> None:
    await network.headers("coordinator_a")
    token = network.tokens["coordinator_a"]
    await _admin_patch(network, "coordinator_a", {"full_name": "Điều phối viên A"})
    await _admin_patch(network, "coordinator_a", {"roles": ["coordinator", "trainee"]})
    assert await _me(network.client, bearer=token) == 200


async def test_moving_a_user_to_another_facility_ends_every_session(network: Network) -> None:
    await network.headers("doctor_a")
    token = network.tokens["doctor_a"]
    await _admin_patch(network, "doctor_a", {"facility_id": network.facilities["D2"]})
    assert await _me(network.client, bearer=token) == 401


async def test_a_password_change_ends_every_session_and_token(network: Network) -> None:
    await network.headers("doctor_a")
    token = network.tokens["doctor_a"]
    cookie = await _cookie(network, "doctor_a")
    second = await _cookie(network, "doctor_a")
    network.client.session.cookie_jar.update_cookies(
        {network.client.app[keys.SETTINGS].sessions.cookie_name: second}
    )
    changed = await network.client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=network.origin,
    )
    assert changed.status == 204, await changed.text()
    for old in (cookie, second):
        assert await _me(network.client, cookie=old) == 401
    assert await _me(network.client, bearer=token) == 401
    old_login = await network.client.post(
        "/api/v1/auth/token", json={"username": "doctor_a", "password": PASSWORD}
    )
    assert old_login.status == 401
    assert await _cookie(network, "doctor_a", NEW_PASSWORD)


async def test_a_password_change_needs_the_current_password(network: Network) -> None:
    headers = await network.headers("doctor_a")
    wrong = await network.client.post(
        "/api/v1/me/password",
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert wrong.status == 401
    assert await _me(network.client, bearer=network.tokens["doctor_a"]) == 200


async def test_a_password_change_needs_a_signed_in_caller(network: Network) -> None:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    resp = await network.client.post("/api/v1/me/password", json=body, headers=network.origin)
    assert resp.status == 401
