"""Helpers for scheduling tests: open a practitioner's week and find free slots."""

from __future__ import annotations

from typing import Any

from tests.support.network import Network


async def practitioner_id(net: Network, username: str) -> str:
    """The practitioner id of a network user."""
    resp = await net.client.get("/api/v1/me", headers=await net.headers(username))
    body = await resp.json()
    assert body["practitioner_id"], body
    return str(body["practitioner_id"])


async def open_every_day(
    net: Network, username: str, slot_minutes: int = 30, start: str = "00:00", end: str = "23:30"
) -> str:
    """Give a practitioner slots all day, every day; returns the practitioner id."""
    pid = await practitioner_id(net, username)
    rules = [
        {"weekday": d, "start": start, "end": end, "slot_minutes": slot_minutes} for d in range(7)
    ]
    resp = await net.client.put(
        f"/api/v1/practitioners/{pid}/availability",
        json={"rules": rules},
        headers=await net.headers(username),
    )
    assert resp.status == 200, await resp.text()
    return pid


async def free_slots(
    net: Network, pid: str, as_user: str = "patient_self", limit: int = 50
) -> list[Any]:
    """The practitioner's next free slots."""
    resp = await net.client.get(
        f"/api/v1/slots?practitioner_id={pid}&limit={limit}", headers=await net.headers(as_user)
    )
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["items"])
