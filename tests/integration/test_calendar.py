"""iCalendar over HTTP: an appointment's `.ics` for its parties, and private feeds."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlalchemy import select
from yarl import URL

from telehealth import keys
from telehealth.db.uow import UnitOfWork
from telehealth.scheduling.models import CalendarFeed
from tests.support.network import Network
from tests.support.scheduling import free_slots, open_every_day

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
REASON = "Đau ngực khi gắng sức"


async def _book(net: Network, who: str, slot: str, patient: str | None = None) -> Any:
    body: dict[str, Any] = {"slot_id": slot, "mode": "video", "reason": REASON}
    if patient:
        body["patient_id"] = net.patients[patient]
    resp = await net.client.post("/api/v1/appointments", json=body, headers=await net.headers(who))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _ics(net: Network, appointment_id: str, who: str, query: str = "") -> Any:
    return await net.client.get(
        f"/api/v1/appointments/{appointment_id}/calendar.ics{query}",
        headers=await net.headers(who),
    )


async def _event(resp: Any) -> Any:
    assert resp.status == 200, await resp.text()
    events = Calendar.from_ical(await resp.read()).events
    assert len(events) == 1
    return events[0]


def _unfolded(data: bytes) -> bytes:
    return data.replace(b"\r\n ", b"")


async def test_a_party_gets_the_visit_at_its_local_time(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slot = next(s for s in await free_slots(network, pid) if "T08:30:00" in s["start"])
    appt = await _book(network, "patient_self", slot["id"])
    resp = await _ics(network, appt["id"], "patient_self", "?lang=en")
    assert resp.content_type == "text/calendar"
    assert resp.charset == "utf-8"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert disposition.endswith('.ics"')
    event = await _event(resp)
    start = event.decoded("DTSTART")
    assert event["DTSTART"].params["TZID"] == "Asia/Ho_Chi_Minh"
    assert start.astimezone(HCM) == datetime.fromisoformat(slot["start"])
    assert start.astimezone(HCM).strftime("%H:%M") == "08:30"
    assert start.astimezone(UTC).strftime("%H:%MZ") == "01:30Z"
    assert event.decoded("DTEND").astimezone(HCM) == datetime.fromisoformat(slot["end"])
    assert str(event["UID"]) == f"{appt['id']}@telehealth"
    assert event["SEQUENCE"] == 1
    assert event["STATUS"] == "CONFIRMED"
    assert str(event["SUMMARY"]) == "Telehealth visit with Dr Specialist"
    assert REASON in str(event["DESCRIPTION"])
    assert "Lò Văn Tự".encode() not in _unfolded(await resp.read())


async def test_the_language_follows_the_request(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    appt = await _book(network, "patient_self", (await free_slots(network, pid))[0]["id"])
    event = await _event(await _ics(network, appt["id"], "specialist"))
    assert str(event["SUMMARY"]) == "Khám từ xa với BS Specialist"


async def test_strangers_get_404_and_parties_see_changes(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    slots = await free_slots(network, pid)
    appt = await _book(network, "coordinator_a", slots[0]["id"], patient="patient_a")
    for stranger in ("doctor_b", "patient_self", "specialist"):
        resp = await _ics(network, appt["id"], stranger)
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
    missing = await _ics(network, "00000000-0000-4000-8000-000000000000", "doctor_a")
    assert missing.status == 404
    anonymous = await network.client.get(f"/api/v1/appointments/{appt['id']}/calendar.ics")
    assert anonymous.status == 401
    moved = await network.client.post(
        f"/api/v1/appointments/{appt['id']}/reschedule",
        json={"slot_id": slots[2]["id"]},
        headers=await network.headers("doctor_a"),
    )
    assert moved.status == 200, await moved.text()
    event = await _event(await _ics(network, appt["id"], "doctor_a"))
    assert event["SEQUENCE"] == 2
    assert event.decoded("DTSTART") == datetime.fromisoformat(slots[2]["start"])
    cancelled = await network.client.post(
        f"/api/v1/appointments/{appt['id']}/cancel",
        json={"reason": "Bệnh nhân đi vắng"},
        headers=await network.headers("coordinator_a"),
    )
    assert cancelled.status == 200
    event = await _event(await _ics(network, appt["id"], "coordinator_a"))
    assert event["STATUS"] == "CANCELLED"


async def _feed_url(net: Network, pid: str, who: str) -> str:
    resp = await net.client.post(
        f"/api/v1/practitioners/{pid}/calendar-feed", headers=await net.headers(who)
    )
    assert resp.status == 201, await resp.text()
    url = URL((await resp.json())["url"])
    assert url.path.startswith("/calendar/")
    assert url.path.endswith(".ics")
    return url.path


async def test_the_feed_works_without_sign_in_and_names_nobody(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    slots = await free_slots(network, pid)
    kept = await _book(network, "coordinator_a", slots[0]["id"], patient="patient_a")
    dropped = await _book(network, "coordinator_a", slots[1]["id"], patient="patient_a")
    await network.client.post(
        f"/api/v1/appointments/{dropped['id']}/cancel",
        json={"reason": "Đổi ý"},
        headers=await network.headers("coordinator_a"),
    )
    path = await _feed_url(network, pid, "doctor_a")
    resp = await network.client.get(path + "?lang=en")
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/calendar"
    data = await resp.read()
    events = Calendar.from_ical(data).events
    assert [str(e["UID"]) for e in events] == [f"{kept['id']}@telehealth"]
    assert str(events[0]["SUMMARY"]) == "Telehealth visit (Video call)"
    assert kept["id"][:8].upper() in str(events[0]["DESCRIPTION"])
    for secret in ("Bệnh nhân patient_a", REASON, "Doctor A"):
        assert secret.encode() not in _unfolded(data), secret
    assert events[0].decoded("DTSTART") == datetime.fromisoformat(slots[0]["start"])


async def test_rotating_retires_the_old_url_and_revoking_ends_the_feed(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    first = await _feed_url(network, pid, "doctor_a")
    second = await _feed_url(network, pid, "coordinator_a")
    assert first != second
    assert (await network.client.get(first)).status == 404
    assert (await network.client.get(second)).status == 200
    secret = second.removeprefix("/calendar/").removesuffix(".ics")
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        stored = (await uow.session.scalars(select(CalendarFeed.token_hash))).all()
    assert stored == [hashlib.sha256(secret.encode()).hexdigest()]
    revoke = await network.client.delete(
        f"/api/v1/practitioners/{pid}/calendar-feed", headers=await network.headers("doctor_a")
    )
    assert revoke.status == 204
    gone = await network.client.get(second)
    assert gone.status == 404
    assert gone.content_type == "application/problem+json"
    assert (await network.client.get("/calendar/not-a-real-secret.ics")).status == 404


async def test_only_managers_issue_a_feed(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    url = f"/api/v1/practitioners/{pid}/calendar-feed"
    for who, status in (("doctor_b", 404), ("specialist", 404), ("patient_self", 403)):
        resp = await network.client.post(url, headers=await network.headers(who))
        assert resp.status == status, who
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        assert (await uow.session.scalars(select(CalendarFeed))).all() == []
