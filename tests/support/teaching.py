"""Teaching sessions for tests: more trainees, and a session scheduled through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from telehealth import keys
from telehealth.accounts import schemas as acc
from telehealth.accounts.models import Role
from telehealth.db.base import utcnow
from tests.support.network import PASSWORD, SEED, Network

__all__ = ["PASSWORD", "add_user", "schedule_session"]


async def add_user(
    net: Network, username: str, role: Role, facility: str, email: str | None = None
) -> str:
    """One more user (a second trainer, a trainee at another facility), by the service."""
    out = await net.client.app[keys.ACCOUNTS].create_user(
        SEED,
        acc.UserCreate(
            username=username,
            password=PASSWORD,
            full_name=username.replace("_", " ").title(),
            roles=[role],
            facility_id=net.facilities[facility],
            email=email,
        ),
    )
    net.users[username] = out.id
    return out.id


async def schedule_session(
    net: Network,
    *,
    capacity: int = 10,
    facilities: tuple[str, ...] = ("D1",),
    starts_in: timedelta = timedelta(minutes=30),
    lasts: timedelta = timedelta(hours=1),
    trainer: str = "trainer",
) -> dict[str, Any]:
    """A session scheduled by `trainer` through the API; returns its JSON."""
    start = utcnow() + starts_in
    resp = await net.client.post(
        "/api/v1/teaching-sessions",
        json={
            "title": "Đọc điện tâm đồ cơ bản",
            "topic": "ECG cho bác sĩ tuyến xã",
            "starts_at": start.isoformat(),
            "ends_at": (start + lasts).isoformat(),
            "capacity": capacity,
            "facility_ids": [net.facilities[f] for f in facilities],
        },
        headers=await net.headers(trainer),
    )
    assert resp.status == 201, await resp.text()
    session: dict[str, Any] = await resp.json()
    return session
