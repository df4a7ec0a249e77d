"""Fifty clients racing for one slot, a hundred times over, on the real server over HTTP.

The database decides every race (a partial unique index plus unique time holds), so each
round must end with exactly one booking, every loser must get 409 `slot_taken` with the
next free slots, and no request may ever see a 500 — on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from telehealth import keys
from telehealth.config import Settings, ThrottlePolicy
from telehealth.db.uow import UnitOfWork
from telehealth.scheduling.models import ACTIVE_STATUSES, Appointment, TimeHold
from tests.support.network import PASSWORD, Network
from tests.support.scheduling import open_every_day

ROUNDS = 100
CLIENTS = 50
SLOT_MINUTES = 15
BLOCKS_PER_SLOT = SLOT_MINUTES // 5


async def _slots_ahead(net: Network, pid: str) -> list[str]:
    """The first free slots from the day after tomorrow: none can start while the test runs."""
    day = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + timedelta(days=2)
    resp = await net.client.get(
        f"/api/v1/slots?practitioner_id={pid}&from={day.isoformat()}&limit={ROUNDS}",
        headers=await net.headers("patient_self"),
    )
    assert resp.status == 200, await resp.text()
    return [str(slot["id"]) for slot in (await resp.json())["items"]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Every racer registers from the test's one address: lift the per-address limit."""
    return settings.with_overrides(throttle=ThrottlePolicy(registrations_per_address=CLIENTS + 1))


async def _patient_token(net: Network, n: int) -> str:
    """Register patient `racer-n` through the API and sign in for a bearer token."""
    username = f"racer-{n:02d}"
    registered = await net.client.post(
        "/api/v1/auth/register",
        json={
            "username": username,
            "password": PASSWORD,
            "full_name": f"Người đua {n}",
            "phone": f"09{n:08d}",
        },
    )
    assert registered.status == 202, await registered.text()
    signed_in = await net.client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert signed_in.status == 200, await signed_in.text()
    return str((await signed_in.json())["access_token"])


async def _book(net: Network, token: str, slot: str) -> tuple[int, dict[str, Any]]:
    resp = await net.client.post(
        "/api/v1/appointments",
        json={"slot_id": slot, "mode": "video", "reason": "Sốt cao ba ngày"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return resp.status, await resp.json()


async def _race(net: Network, tokens: list[str], slot: str) -> str:
    """One round: every client books `slot` at once; returns the winner's appointment id."""
    results = await asyncio.gather(*(_book(net, t, slot) for t in tokens))
    statuses = Counter(status for status, _ in results)
    assert statuses == Counter({201: 1, 409: CLIENTS - 1}), (slot, statuses, results)
    for status, body in results:
        if status == 409:
            assert body["code"] == "slot_taken", body
            assert slot not in {s["id"] for s in body["next_slots"]}, body
    return next(str(body["id"]) for status, body in results if status == 201)


async def _stored(net: Network, pid: str) -> tuple[dict[str, int], dict[str, str], int]:
    """Active bookings per slot, every stored appointment's slot by id, and time holds."""
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        active = Counter(
            (
                await uow.session.scalars(
                    select(Appointment.slot_id).where(
                        Appointment.practitioner_id == pid,
                        Appointment.status.in_([s.value for s in ACTIVE_STATUSES]),
                    )
                )
            ).all()
        )
        rows = (
            await uow.session.execute(
                select(Appointment.id, Appointment.slot_id).where(
                    Appointment.practitioner_id == pid
                )
            )
        ).all()
        holds = await uow.session.scalar(select(func.count()).select_from(TimeHold))
    return dict(active), {row[0]: row[1] for row in rows}, int(holds or 0)


async def test_fifty_clients_racing_for_one_slot_leave_exactly_one_booking(
    network: Network,
) -> None:
    pid = await open_every_day(network, "specialist", slot_minutes=SLOT_MINUTES)
    slots = await _slots_ahead(network, pid)
    assert len(slots) == ROUNDS
    tokens = list(await asyncio.gather(*(_patient_token(network, n) for n in range(CLIENTS))))

    winners = {slot: await _race(network, tokens, slot) for slot in slots}

    active, stored, holds = await _stored(network, pid)
    assert active == dict.fromkeys(slots, 1)
    # The losers left nothing behind: no row, no hold.
    assert stored == {appt: slot for slot, appt in winners.items()}
    assert holds == ROUNDS * BLOCKS_PER_SLOT * 2  # the practitioner's and the patient's
