"""Availability, slot search, booking and the appointment lifecycle over the real API."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import select

from telehealth import keys
from telehealth.db.uow import UnitOfWork
from telehealth.outbox.models import OutboxMessage
from tests.support.network import Network
from tests.support.scheduling import free_slots, open_every_day, practitioner_id


async def _book(net: Network, who: str, slot: str, patient: str | None = None) -> Any:
    body: dict[str, Any] = {"slot_id": slot, "mode": "video", "reason": "Đau ngực khi gắng sức"}
    if patient:
        body["patient_id"] = net.patients[patient]
    return await net.client.post("/api/v1/appointments", json=body, headers=await net.headers(who))


async def test_patient_books_a_free_slot_which_then_disappears(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slots = await free_slots(network, pid)
    assert slots
    first = slots[0]
    assert first["start"].endswith("+07:00")  # shown in the facility's time zone
    resp = await _book(network, "patient_self", first["id"])
    assert resp.status == 201, await resp.text()
    appt = await resp.json()
    assert appt["status"] == "booked"
    assert appt["patient"]["id"] == network.patients["patient_self"]
    assert appt["booked_on_behalf"] is False
    assert first["id"] not in {s["id"] for s in await free_slots(network, pid)}


async def test_second_booking_of_a_slot_gets_409_with_next_slots(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]["id"]
    assert (await _book(network, "patient_self", slot)).status == 201
    lost = await _book(network, "coordinator_a", slot, patient="patient_a")
    assert lost.status == 409
    body = await lost.json()
    assert body["code"] == "slot_taken"
    assert body["next_slots"]
    assert slot not in {s["id"] for s in body["next_slots"]}


async def test_concurrent_bookings_end_with_exactly_one(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]["id"]
    results = await asyncio.gather(
        _book(network, "patient_self", slot),
        _book(network, "coordinator_a", slot, patient="patient_a"),
        _book(network, "doctor_b", slot, patient="patient_b"),
    )
    statuses = sorted(r.status for r in results)
    assert statuses == [201, 409, 409]


async def test_a_patient_cannot_hold_two_overlapping_appointments(network: Network) -> None:
    spec = await open_every_day(network, "specialist", slot_minutes=30)
    doc = await open_every_day(network, "doctor_a", slot_minutes=20)
    first = (await free_slots(network, spec))[2]
    assert (await _book(network, "patient_self", first["id"])).status == 201
    start = datetime.fromisoformat(first["start"])
    overlapping = next(
        s
        for s in await free_slots(network, doc)
        if datetime.fromisoformat(s["start"]) > start
        and datetime.fromisoformat(s["start"]) < datetime.fromisoformat(first["end"])
    )
    resp = await _book(network, "patient_self", overlapping["id"])
    assert resp.status == 409
    assert (await resp.json())["code"] == "overlapping_appointment"


async def test_coordinator_books_on_behalf_and_the_booker_is_recorded(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    slot = (await free_slots(network, pid))[0]["id"]
    resp = await _book(network, "coordinator_a", slot, patient="patient_a")
    assert resp.status == 201
    appt = await resp.json()
    assert appt["booked_by"]["id"] == network.users["coordinator_a"]
    assert appt["booked_on_behalf"] is True


async def test_coordinator_cannot_book_elsewhere_for_a_foreign_patient(network: Network) -> None:
    pid = await open_every_day(network, "specialist")  # at C0, not the coordinator's D1
    slot = (await free_slots(network, pid))[0]["id"]
    resp = await _book(network, "coordinator_a", slot, patient="patient_b")  # patient of D2
    # To the coordinator, patient_b does not exist (issue 10, item 6).
    assert resp.status == 404


async def test_patient_cannot_see_or_cancel_anothers_appointment(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    slot = (await free_slots(network, pid))[0]["id"]
    appt = await (await _book(network, "coordinator_a", slot, patient="patient_a")).json()
    stranger = await network.headers("patient_self")
    url = f"/api/v1/appointments/{appt['id']}"
    assert (await network.client.get(url, headers=stranger)).status == 404
    cancel = await network.client.post(url + "/cancel", json={"reason": "x"}, headers=stranger)
    assert cancel.status == 404
    listed = await network.client.get("/api/v1/appointments", headers=stranger)
    assert appt["id"] not in {a["id"] for a in (await listed.json())["items"]}
    other_doctor = await network.headers("doctor_b")
    assert (await network.client.get(url, headers=other_doctor)).status == 404


async def test_cancel_frees_the_slot_and_queues_a_notice(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]["id"]
    appt = await (await _book(network, "patient_self", slot)).json()
    resp = await network.client.post(
        f"/api/v1/appointments/{appt['id']}/cancel",
        json={"reason": "Bận việc đồng áng"},
        headers=await network.headers("patient_self"),
    )
    assert resp.status == 200
    assert (await resp.json())["status"] == "cancelled"
    assert slot in {s["id"] for s in await free_slots(network, pid)}
    again = await network.client.post(
        f"/api/v1/appointments/{appt['id']}/cancel",
        json={"reason": "twice"},
        headers=await network.headers("patient_self"),
    )
    assert again.status == 409
    assert (await again.json())["code"] == "invalid_transition"
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        topics = (
            await uow.session.scalars(
                select(OutboxMessage.topic).where(OutboxMessage.object_id == appt["id"])
            )
        ).all()
    assert "appointment.cancelled" in topics
    assert "appointment.booked" in topics


async def test_reschedule_moves_the_booking_and_frees_the_old_slot(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slots = await free_slots(network, pid)
    appt = await (await _book(network, "patient_self", slots[0]["id"])).json()
    resp = await network.client.post(
        f"/api/v1/appointments/{appt['id']}/reschedule",
        json={"slot_id": slots[3]["id"]},
        headers=await network.headers("patient_self"),
    )
    assert resp.status == 200, await resp.text()
    moved = await resp.json()
    assert moved["slot_id"] == slots[3]["id"]
    assert moved["version"] == 2
    free = {s["id"] for s in await free_slots(network, pid)}
    assert slots[0]["id"] in free
    assert slots[3]["id"] not in free


async def test_rule_change_keeps_bookings_and_reports_conflicts(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]
    appt = await (await _book(network, "patient_self", slot["id"])).json()
    resp = await network.client.put(
        f"/api/v1/practitioners/{pid}/availability",
        json={"rules": []},
        headers=await network.headers("specialist"),
    )
    assert resp.status == 200
    body = await resp.json()
    assert [c["id"] for c in body["conflicts"]] == [appt["id"]]
    got = await network.client.get(
        f"/api/v1/appointments/{appt['id']}", headers=await network.headers("patient_self")
    )
    assert (await got.json())["status"] == "booked"


async def test_only_the_practitioner_or_their_coordinator_sets_availability(
    network: Network,
) -> None:
    pid = await practitioner_id(network, "doctor_a")
    body = {"rules": [{"weekday": 0, "start": "08:00", "end": "11:00", "slot_minutes": 15}]}
    url = f"/api/v1/practitioners/{pid}/availability"
    assert (
        await network.client.put(url, json=body, headers=await network.headers("coordinator_a"))
    ).status == 200
    assert (
        await network.client.put(url, json=body, headers=await network.headers("doctor_b"))
    ).status == 404
    assert (
        await network.client.put(url, json=body, headers=await network.headers("patient_self"))
    ).status == 403


async def test_overlapping_rules_and_bad_times_are_refused(network: Network) -> None:
    pid = await practitioner_id(network, "doctor_a")
    url = f"/api/v1/practitioners/{pid}/availability"
    headers = await network.headers("doctor_a")
    overlap = {
        "rules": [
            {"weekday": 0, "start": "08:00", "end": "11:00", "slot_minutes": 15},
            {"weekday": 0, "start": "10:00", "end": "12:00", "slot_minutes": 15},
        ]
    }
    resp = await network.client.put(url, json=overlap, headers=headers)
    assert resp.status == 400
    odd = {"rules": [{"weekday": 0, "start": "08:03", "end": "11:00", "slot_minutes": 15}]}
    assert (await network.client.put(url, json=odd, headers=headers)).status == 400
    backwards = {"rules": [{"weekday": 0, "start": "11:00", "end": "08:00", "slot_minutes": 15}]}
    assert (await network.client.put(url, json=backwards, headers=headers)).status == 400


async def test_unknown_and_malformed_slots_are_404(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    assert (await _book(network, "patient_self", "garbage")).status == 404
    assert (await _book(network, "patient_self", f"{pid}_20991301T0000Z")).status == 404
    assert (await _book(network, "patient_self", f"{pid}_20991201T0007Z")).status == 404
