"""The app starts on a real database and answers health and identity questions."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.network import Network


async def test_healthz_and_readyz_answer(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ready"


async def test_me_names_roles_and_facility(network: Network) -> None:
    resp = await network.client.get("/api/v1/me", headers=await network.headers("doctor_a"))
    assert resp.status == 200
    body = await resp.json()
    assert body["roles"] == ["doctor"]
    assert body["facility"]["code"] == "D1"
    assert body["practitioner_id"]
