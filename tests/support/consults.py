"""Helpers for consult tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import select

from telehealth import keys
from telehealth.accounts.models import FacilityLevel, Role
from telehealth.accounts.schemas import FacilityIn, UserCreate
from telehealth.db.uow import UnitOfWork
from telehealth.outbox.models import OutboxMessage
from tests.support.network import PASSWORD, SEED, Network
from tests.support.scheduling import practitioner_id

CASE = {
    "history": "Đau ngực trái 2 ngày, tăng khi gắng sức.",
    "examination": "Tim đều, không âm thổi.",
    "vitals": {"heart_rate": 96, "systolic_bp": 150, "diastolic_bp": 95, "spo2": 97},
    "current_treatment": "Aspirin 81 mg",
    "allergies": "Không",
}


async def file_consult(
    net: Network, urgency: str = "routine", specialty: str = "cardiology", **extra: Any
) -> dict[str, Any]:
    """doctor_a (district D1) asks cardiology about patient_a."""
    body = {
        "patient_id": net.patients["patient_a"],
        "specialty": specialty,
        "urgency": urgency,
        "question": "Có cần chuyển tuyến chụp mạch vành không?",
        "summary": CASE,
        **extra,
    }
    resp = await net.client.post(
        "/api/v1/consults", json=body, headers=await net.headers("doctor_a")
    )
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def act(net: Network, who: str, consult_id: str, action: str, body: Any = None) -> Any:
    """POST an action on a consult as `who`; returns the response."""
    return await net.client.post(
        f"/api/v1/consults/{consult_id}/{action}", json=body, headers=await net.headers(who)
    )


async def attach(
    net: Network, who: str, consult_id: str, data: bytes, filename: str
) -> dict[str, Any]:
    """Upload one file to a consult as `who`, as a browser would (multipart, part `file`)."""
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    resp = await net.client.post(
        f"/api/v1/consults/{consult_id}/attachments", data=form, headers=await net.headers(who)
    )
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def add_specialist(
    net: Network,
    username: str,
    facility: str,
    specialties: list[str],
    roles: list[Role] | None = None,
) -> str:
    """Another account with a practitioner profile; returns the practitioner id."""
    user = await net.client.app[keys.ACCOUNTS].create_user(
        SEED,
        UserCreate(
            username=username,
            password=PASSWORD,
            full_name=username.replace(".", " ").title(),
            roles=roles or [Role.SPECIALIST],
            facility_id=net.facilities[facility],
            specialties=specialties,
        ),
    )
    net.users[username] = user.id
    return await practitioner_id(net, username)


async def with_email(net: Network, username: str, email: str) -> None:
    resp = await net.client.patch(
        "/api/v1/me", json={"email": email}, headers=await net.headers(username)
    )
    assert resp.status == 200, await resp.text()


@dataclass(frozen=True)
class Sent:
    recipient: str
    recipient_user_id: str | None
    body: str


async def emails(net: Network, consult_id: str, topic: str) -> list[Sent]:
    """The e-mails queued about a consult on one topic, by recipient."""
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        rows = await uow.session.execute(
            select(OutboxMessage.recipient, OutboxMessage.recipient_user_id, OutboxMessage.body)
            .where(
                OutboxMessage.object_id == consult_id,
                OutboxMessage.topic == topic,
                OutboxMessage.channel == "email",
            )
            .order_by(OutboxMessage.recipient)
        )
        return [Sent(*row) for row in rows.all()]


async def add_provincial_hospital(net: Network) -> str:
    out = await net.client.app[keys.ACCOUNTS].create_facility(
        SEED,
        FacilityIn(
            code="P1", name="Bệnh viện tỉnh Lai Châu", level=FacilityLevel.PROVINCIAL, province="LC"
        ),
    )
    net.facilities["P1"] = out.id
    return str(out.id)
