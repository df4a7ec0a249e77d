"""The cross-site request check: cookie writes need the public URL's origin, and only a
valid bearer token (never a bare or empty `Authorization` header) exempts a request."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from telehealth import keys
from tests.support.network import PASSWORD, Network

EVIL = "http://evil.example"


async def _cookie_browser(network: Network) -> TestClient[Any, Any]:
    client = network.client
    resp = await client.post(
        "/api/v1/auth/login",
        json={"username": "doctor_a", "password": PASSWORD},
        headers=network.origin,
    )
    assert resp.status == 200, await resp.text()
    return client


async def _name(client: TestClient[Any, Any]) -> str:
    return str((await (await client.get("/api/v1/me")).json())["full_name"])


async def test_an_empty_authorization_header_does_not_exempt_a_cookie_write(
    network: Network,
) -> None:
    client = await _cookie_browser(network)
    before = await _name(client)
    resp = await client.patch(
        "/api/v1/me",
        json={"full_name": "Forged"},
        headers={"Origin": EVIL, "Authorization": ""},
    )
    assert resp.status in (401, 403)
    assert await _name(client) == before


async def test_an_invalid_bearer_token_does_not_exempt_a_cookie_write(network: Network) -> None:
    client = await _cookie_browser(network)
    before = await _name(client)
    for header in ("Bearer", "Bearer   ", "Bearer not-a-token", "Basic eDp5"):
        resp = await client.patch(
            "/api/v1/me",
            json={"full_name": "Forged"},
            headers={"Origin": EVIL, "Authorization": header},
        )
        assert resp.status in (401, 403), header
    assert await _name(client) == before


async def test_a_host_header_naming_the_foreign_origin_does_not_pass(network: Network) -> None:
    client = await _cookie_browser(network)
    before = await _name(client)
    resp = await client.patch(
        "/api/v1/me",
        json={"full_name": "Forged"},
        headers={"Origin": EVIL, "Host": "evil.example"},
    )
    assert resp.status == 403
    assert (await resp.json())["code"] == "csrf_failed"
    assert await _name(client) == before


async def test_the_servers_own_address_is_not_an_origin_unless_it_is_the_public_url(
    network: Network,
) -> None:
    client = await _cookie_browser(network)
    own = {"Origin": f"http://{client.host}:{client.port}"}
    assert client.app[keys.SETTINGS].public_url != own["Origin"]
    resp = await client.patch("/api/v1/me", json={"full_name": "Forged"}, headers=own)
    assert resp.status == 403


async def test_the_public_url_origin_passes_and_a_valid_bearer_token_needs_none(
    network: Network,
) -> None:
    # The token is fetched first: a token request carrying the cookie needs an Origin too.
    token = await network.headers("doctor_b")
    client = await _cookie_browser(network)
    same = await client.patch("/api/v1/me", json={"full_name": "Bác sĩ A"}, headers=network.origin)
    assert same.status == 200
    headers = {**token, "Origin": EVIL}
    bearer = await client.patch("/api/v1/me", json={"full_name": "Bác sĩ B"}, headers=headers)
    assert bearer.status == 200
    assert (await bearer.json())["username"] == "doctor_b"
