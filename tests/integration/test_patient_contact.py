"""Patients without a smartphone: a landline is their contact number, gets no SMS, and is
shown to the doctor of the visit (API, appointment page, day schedule) and to no one else;
a visit booked on their behalf says who will sit with them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from telehealth import keys
from telehealth.db.uow import UnitOfWork
from telehealth.outbox.models import OutboxMessage
from tests.support.network import Network
from tests.support.pages import browse_as, page, submit, with_every_token
from tests.support.scheduling import free_slots, open_every_day

LANDLINE = "02143812345"
COMPANION = "Con gái Lò Thị Hằng"


@pytest.fixture
async def network(network: Network) -> Network:
    """The shared network, with every API token fetched first (pages are used too)."""
    return await with_every_token(network)


async def _patient(net: Network, phone: str) -> str:
    resp = await net.client.post(
        "/api/v1/patients",
        json={"full_name": "Lò Thị Én", "phone": phone},
        headers=await net.headers("coordinator_a"),
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert body["phone"] == phone.replace(" ", "")
    return str(body["id"])


async def _book(net: Network, patient_id: str, slot_index: int = 0) -> dict[str, Any]:
    pid = await open_every_day(net, "specialist")
    slot = (await free_slots(net, pid))[slot_index]["id"]
    resp = await net.client.post(
        "/api/v1/appointments",
        json={
            "slot_id": slot,
            "patient_id": patient_id,
            "mode": "audio",
            "reason": "Tái khám",
            "companion": COMPANION,
        },
        headers=await net.headers("coordinator_a"),
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _sms_to(net: Network, appointment_id: str) -> list[str]:
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER], read_only=True) as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage.recipient).where(
                OutboxMessage.object_id == appointment_id, OutboxMessage.channel == "sms"
            )
        )
        return list(rows.all())


async def test_a_landline_is_accepted_and_gets_no_sms_while_a_mobile_does(
    network: Network,
) -> None:
    landline = await _book(network, await _patient(network, "0214 381 2345"))
    assert await _sms_to(network, landline["id"]) == []
    mobile = await _book(network, await _patient(network, "0912 876 543"), slot_index=3)
    assert set(await _sms_to(network, mobile["id"])) == {"0912876543"}
    refused = await network.client.post(
        "/api/v1/patients",
        json={"full_name": "Lò Thị Én", "phone": "0612345678"},
        headers=await network.headers("coordinator_a"),
    )
    assert refused.status == 400
    assert (await refused.json())["code"] == "validation_error"


async def test_only_the_doctor_of_the_visit_sees_the_number(network: Network) -> None:
    appt = await _book(network, await _patient(network, LANDLINE))
    assert appt["companion"] == COMPANION
    seen = {}
    for who in ("specialist", "coordinator_a", "doctor_b"):
        resp = await network.client.get(
            f"/api/v1/appointments/{appt['id']}", headers=await network.headers(who)
        )
        seen[who] = (resp.status, (await resp.json()).get("patient_phone"))
    assert seen == {
        "specialist": (200, LANDLINE),
        "coordinator_a": (200, None),
        "doctor_b": (404, None),
    }
    listed = await network.client.get(
        "/api/v1/appointments", headers=await network.headers("specialist")
    )
    assert [a["patient_phone"] for a in (await listed.json())["items"]] == [LANDLINE]


async def test_the_pages_show_number_and_companion_to_the_doctor(network: Network) -> None:
    appt = await _book(network, await _patient(network, LANDLINE))
    await browse_as(network, "specialist")
    detail = await page(network, f"/appointments/{appt['id']}")
    assert f'href="tel:{LANDLINE}"' in detail
    assert COMPANION in detail
    day = appt["start"][:10]
    schedule = await page(network, f"/schedule?date={day}&view=day")
    assert f'href="tel:{LANDLINE}"' in schedule
    assert COMPANION in schedule
    await browse_as(network, "coordinator_a")
    booker = await page(network, f"/appointments/{appt['id']}")
    assert LANDLINE not in booker
    assert COMPANION in booker


async def test_the_booking_form_asks_staff_who_sits_with_the_patient(network: Network) -> None:
    patient_id = await _patient(network, LANDLINE)
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]["id"]
    await browse_as(network, "coordinator_a")
    form = await page(network, f"/book/{slot}?patient_id={patient_id}")
    assert 'name="companion"' in form
    assert "Ai sẽ ngồi cùng bệnh nhân" in form
    resp = await submit(
        network,
        f"/book/{slot}",
        form,
        {"patient_id": patient_id, "mode": "audio", "reason": "Tái khám", "companion": COMPANION},
    )
    assert resp.status == 303, await resp.text()
    detail = await page(network, resp.headers["Location"])
    assert COMPANION in detail
    # A patient booking for themself is not asked.
    await browse_as(network, "patient_self")
    second = (await free_slots(network, pid))[1]["id"]
    assert 'name="companion"' not in await page(network, f"/book/{second}")
