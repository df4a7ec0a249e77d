"""Every read that shows clinical content writes an audit event (a list: one event
naming the records shown), and a refused read of a patient's records is audited too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from telehealth import keys
from telehealth.auth.models import AuditEvent
from telehealth.db.uow import UnitOfWork
from tests.support.consults import file_consult
from tests.support.network import Network
from tests.support.pages import browse_as, with_every_token
from tests.support.scheduling import free_slots, open_every_day

RANDOM_ID = "00000000-0000-4000-8000-000000000000"


async def _events(network: Network, action: str) -> list[tuple[str | None, str | None, Any]]:
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER], read_only=True) as uow:
        rows = await uow.session.execute(
            select(AuditEvent.actor_id, AuditEvent.object_id, AuditEvent.details)
            .where(AuditEvent.action == action)
            .order_by(AuditEvent.at)
        )
        return [tuple(row) for row in rows]


async def _book(network: Network) -> str:
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]["id"]
    resp = await network.client.post(
        "/api/v1/appointments",
        json={"slot_id": slot, "reason": "Đau ngực khi gắng sức"},
        headers=await network.headers("patient_self"),
    )
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def test_the_specialty_queue_and_own_consults_are_audited(network: Network) -> None:
    consult = (await file_consult(network))["id"]
    for who, queue in (("specialist", "specialty"), ("doctor_a", "mine")):
        resp = await network.client.get(
            f"/api/v1/consults?queue={queue}", headers=await network.headers(who)
        )
        assert consult in {c["id"] for c in (await resp.json())["items"]}
    events = await _events(network, "consult.list")
    assert [(actor, details["ids"], details["queue"]) for actor, _, details in events] == [
        (network.users["specialist"], [consult], "specialty"),
        (network.users["doctor_a"], [consult], "mine"),
    ]


async def test_an_empty_list_writes_nothing(network: Network) -> None:
    resp = await network.client.get(
        "/api/v1/consults?queue=specialty", headers=await network.headers("specialist")
    )
    assert (await resp.json())["items"] == []
    assert await _events(network, "consult.list") == []


async def test_the_consults_page_is_audited(network: Network) -> None:
    await with_every_token(network)
    consult = (await file_consult(network))["id"]
    await browse_as(network, "specialist")
    assert (await network.client.get("/consults")).status == 200
    events = await _events(network, "consult.list")
    assert [(actor, details["ids"]) for actor, _, details in events] == [
        (network.users["specialist"], [consult])
    ]


async def test_appointment_lists_and_pages_are_audited(network: Network) -> None:
    await with_every_token(network)
    appointment = await _book(network)
    listed = await network.client.get(
        "/api/v1/appointments", headers=await network.headers("patient_self")
    )
    assert listed.status == 200
    await browse_as(network, "patient_self")
    assert (await network.client.get("/appointments")).status == 200
    await browse_as(network, "specialist")
    assert (await network.client.get("/schedule")).status == 200
    events = await _events(network, "appointment.list")
    assert [(actor, details["ids"]) for actor, _, details in events] == [
        (network.users["patient_self"], [appointment]),
        (network.users["patient_self"], [appointment]),
        (network.users["specialist"], [appointment]),
    ]


async def test_the_calendar_feed_is_audited(network: Network) -> None:
    appointment = await _book(network)
    pid = (
        await (
            await network.client.get("/api/v1/me", headers=await network.headers("specialist"))
        ).json()
    )["practitioner_id"]
    feed = await network.client.post(
        f"/api/v1/practitioners/{pid}/calendar-feed", headers=await network.headers("specialist")
    )
    url = (await feed.json())["url"]
    path = url[url.index("/calendar/") :]
    assert (await network.client.get(path)).status == 200
    events = await _events(network, "calendar_feed.read")
    assert [(obj, details["ids"]) for _, obj, details in events] == [(pid, [appointment])]


async def test_refused_reads_of_a_patients_records_are_audited(network: Network) -> None:
    appointment = await _book(network)
    stranger = await network.headers("doctor_b")
    for path in (
        f"/api/v1/patients/{network.patients['patient_a']}",
        f"/api/v1/patients/{RANDOM_ID}",
        f"/api/v1/appointments/{appointment}",
    ):
        assert (await network.client.get(path, headers=stranger)).status == 404
    refused = await _events(network, "patient.read_refused") + await _events(
        network, "appointment.read_refused"
    )
    assert [(actor, obj) for actor, obj, _ in refused] == [
        (network.users["doctor_b"], network.patients["patient_a"]),
        (network.users["doctor_b"], appointment),
    ]


async def test_refused_consult_reads_are_audited(network: Network) -> None:
    consult = (await file_consult(network))["id"]
    stranger = await network.headers("doctor_b")
    for part in ("", "/timeline", "/opinions"):
        resp = await network.client.get(f"/api/v1/consults/{consult}{part}", headers=stranger)
        assert resp.status == 404
    missing = await network.client.get(f"/api/v1/consults/{RANDOM_ID}", headers=stranger)
    assert missing.status == 404
    refused = await _events(network, "consult.read_refused")
    assert [(actor, obj) for actor, obj, _ in refused] == [(network.users["doctor_b"], consult)] * 3
