"""Teaching sessions over the real API and database: scheduling gives a relay room,
trainees of invited facilities enrol within capacity (the database arbitrates), the
outbox carries the confirmation and reminders, cancelling ends the room, and strangers,
trainees of other facilities and patients are refused."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.auth.models import AuditEvent
from telehealth.db.base import utcnow
from telehealth.outbox.models import OutboxMessage
from tests.support.network import Network
from tests.support.teaching import add_user, schedule_session

BASE = "/api/v1/teaching-sessions"


async def _post(net: Network, who: str, path: str) -> tuple[int, Any]:
    resp = await net.client.post(path, headers=await net.headers(who))
    return resp.status, await resp.json()


async def _get(net: Network, who: str, path: str) -> tuple[int, Any]:
    resp = await net.client.get(path, headers=await net.headers(who))
    return resp.status, await resp.json()


async def _outbox(net: Network, topic: str) -> list[OutboxMessage]:
    async with net.client.app[keys.SESSIONMAKER]() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.topic == topic))
        return list(rows.all())


async def test_a_session_gets_a_relay_teaching_room_with_the_trainer_as_host(
    network: Network,
) -> None:
    session = await schedule_session(network)
    assert (session["status"], session["enrolled"], session["capacity"]) == ("scheduled", 0, 10)
    assert session["facility_ids"] == [network.facilities["D1"]]
    status, room = await _get(network, "trainer", f"/api/v1/rooms/{session['room_id']}")
    assert status == 200
    assert (room["kind"], room["mode"], room["your_role"]) == ("teaching", "relay", "host")
    status, listed = await _get(network, "trainer", BASE)
    assert [s["id"] for s in listed["items"]] == [session["id"]]


async def test_bad_sessions_are_refused_with_a_code(network: Network) -> None:
    start = utcnow() + timedelta(hours=1)
    good = {
        "title": "T",
        "topic": "T",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "capacity": 5,
        "facility_ids": [network.facilities["D1"]],
    }
    bad = [
        {**good, "ends_at": (start - timedelta(minutes=1)).isoformat()},
        {**good, "starts_at": (utcnow() - timedelta(hours=1)).isoformat()},
        {**good, "capacity": 0},
        {**good, "facility_ids": []},
        {**good, "facility_ids": ["no-such-facility"]},
    ]
    headers = await network.headers("trainer")
    for body in bad:
        resp = await network.client.post(BASE, json=body, headers=headers)
        assert resp.status == 400, body
        assert resp.content_type == "application/problem+json"
        assert (await resp.json())["code"] == "validation_error"
    # Only trainers schedule.
    resp = await network.client.post(BASE, json=good, headers=await network.headers("doctor_a"))
    assert (resp.status, (await resp.json())["code"]) == (403, "forbidden")


async def test_strangers_other_facilities_and_patients_are_refused(network: Network) -> None:
    session = await schedule_session(network, facilities=("D1",))
    sid = session["id"]
    await add_user(network, "trainee_d2", Role.TRAINEE, "D2")
    await add_user(network, "trainer_two", Role.TRAINER, "C0")
    # A trainee of an uninvited facility and another trainer: the session does not exist.
    for who in ("trainee_d2", "trainer_two"):
        assert (await _get(network, who, f"{BASE}/{sid}"))[0] == 404
        listed = (await _get(network, who, BASE))[1]
        assert listed["items"] == []
    assert (await _post(network, "trainee_d2", f"{BASE}/{sid}/enrol"))[0] == 404
    for path in ("attendance", "enrolments", "attendance.csv"):
        assert (await _get(network, "trainer_two", f"{BASE}/{sid}/{path}"))[0] == 404
    assert (await _post(network, "trainer_two", f"{BASE}/{sid}/cancel"))[0] == 404
    # Patients and doctors hold no teaching role at all.
    for who in ("patient_self", "doctor_a"):
        status, body = await _post(network, who, f"{BASE}/{sid}/enrol")
        assert (status, body["code"]) == (403, "forbidden")
        assert (await _get(network, who, f"{BASE}/{sid}"))[0] == 403
    # The invited trainee may not read the register.
    status, body = await _get(network, "trainee", f"{BASE}/{sid}/attendance")
    assert (status, body["code"]) == (403, "forbidden")
    # Nor join the room before enrolling.
    status, _ = await _post(network, "trainee", f"/api/v1/rooms/{session['room_id']}/join")
    assert status == 404


async def test_capacity_holds_when_trainees_enrol_at_once(network: Network) -> None:
    session = await schedule_session(network, capacity=2)
    sid = session["id"]
    names = ["trainee", "trainee_b", "trainee_c", "trainee_d"]
    for name in names[1:]:
        await add_user(network, name, Role.TRAINEE, "D1")
    for name in names:
        await network.headers(name)  # tokens first: the race is the enrolment only
    results = await asyncio.gather(*(_post(network, n, f"{BASE}/{sid}/enrol") for n in names))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 201, 409, 409]
    assert {b["code"] for s, b in results if s == 409} == {"session_full"}
    winners = [n for n, (s, _) in zip(names, results, strict=True) if s == 201]
    assert (await _get(network, "trainer", f"{BASE}/{sid}"))[1]["enrolled"] == 2
    # Enrolling twice is a conflict, cancelling gives the place back.
    status, body = await _post(network, winners[0], f"{BASE}/{sid}/enrol")
    assert status == 409
    status, body = await _post(network, winners[0], f"{BASE}/{sid}/enrolment/cancel")
    assert (status, body["status"]) == (200, "cancelled")
    assert (await _post(network, winners[0], f"{BASE}/{sid}/enrolment/cancel"))[0] == 404
    loser = next(n for n in names if n not in winners)
    assert (await _post(network, loser, f"{BASE}/{sid}/enrol"))[0] == 201
    status, rows = await _get(network, "trainer", f"{BASE}/{sid}/enrolments")
    assert status == 200
    active = sorted(r["trainee"]["id"] for r in rows if r["status"] == "enrolled")
    assert active == sorted(network.users[n] for n in (winners[1], loser))
    assert (await _get(network, "trainer", f"{BASE}/{sid}"))[1]["enrolled"] == 2


async def test_enrolment_and_reminders_go_through_the_outbox(network: Network) -> None:
    await add_user(network, "trainee_mail", Role.TRAINEE, "D1", email="hoc.vien@example.vn")
    session = await schedule_session(network, starts_in=timedelta(hours=30))
    sid = session["id"]
    assert (await _post(network, "trainee_mail", f"{BASE}/{sid}/enrol"))[0] == 201
    confirmations = await _outbox(network, "teaching.enrolled")
    reminders = await _outbox(network, "teaching.reminder")
    assert [m.recipient for m in confirmations] == ["hoc.vien@example.vn"]
    assert "Đọc điện tâm đồ cơ bản" in confirmations[0].body
    start = session["starts_at"]
    # The default offsets: 24 h and 15 min before the start.
    dues = sorted(m.due_at for m in reminders)
    starts = utcnow().fromisoformat(start)
    assert dues == [starts - timedelta(hours=24), starts - timedelta(minutes=15)]
    assert {m.status for m in reminders} == {"pending"}
    await _post(network, "trainee_mail", f"{BASE}/{sid}/enrolment/cancel")
    assert {m.status for m in await _outbox(network, "teaching.reminder")} == {"cancelled"}
    # Enrolling again queues a fresh set.
    assert (await _post(network, "trainee_mail", f"{BASE}/{sid}/enrol"))[0] == 201
    statuses = sorted(m.status for m in await _outbox(network, "teaching.reminder"))
    assert statuses == ["cancelled", "cancelled", "pending", "pending"]


async def test_cancelling_a_session_ends_its_room_and_tells_trainees(network: Network) -> None:
    await add_user(network, "trainee_mail", Role.TRAINEE, "D1", email="hv@example.vn")
    session = await schedule_session(network, starts_in=timedelta(minutes=10))
    sid = session["id"]
    assert (await _post(network, "trainee_mail", f"{BASE}/{sid}/enrol"))[0] == 201
    status, cancelled = await _post(network, "trainer", f"{BASE}/{sid}/cancel")
    assert (status, cancelled["status"], cancelled["room_state"]) == (200, "cancelled", "ended")
    assert [m.recipient for m in await _outbox(network, "teaching.cancelled")] == ["hv@example.vn"]
    status, body = await _post(network, "trainee_mail", f"/api/v1/rooms/{session['room_id']}/join")
    assert (status, body["code"]) == (409, "room_ended")
    status, body = await _post(network, "trainer", f"{BASE}/{sid}/cancel")
    assert status == 422
    # The trainee cannot enrol in a cancelled session.
    status, body = await _post(network, "trainee", f"{BASE}/{sid}/enrol")
    assert status == 422


async def test_an_enrolled_trainee_joins_the_room_directly_and_changes_are_audited(
    network: Network,
) -> None:
    session = await schedule_session(network)
    sid = session["id"]
    status, _ = await _post(network, "trainee", f"{BASE}/{sid}/enrol")
    assert status == 201
    status, seen = await _get(network, "trainee", f"{BASE}/{sid}")
    assert (status, seen["your_enrolment"], seen["joinable"]) == (200, "enrolled", True)
    status, grant = await _post(network, "trainee", f"/api/v1/rooms/{session['room_id']}/join")
    assert (status, grant["role"], grant["mode"]) == (200, "participant", "relay")
    async with network.client.app[keys.SESSIONMAKER]() as db:
        actions = set(
            (await db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == sid))).all()
        )
    assert {"teaching.create", "teaching.enrol"} <= actions
