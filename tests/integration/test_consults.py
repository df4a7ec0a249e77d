"""The consult flow over the API: file, accept, ask for information, answer, sign, amend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from telehealth import keys
from telehealth.consults.models import ConsultRequest, OnCallShift
from telehealth.consults.service import ConsultService
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.outbox.models import OutboxMessage
from telehealth.rooms.models import Room
from tests.support.consults import CASE, act, attach, file_consult
from tests.support.files import png
from tests.support.network import Network
from tests.support.scheduling import practitioner_id

OPINION = {
    "assessment": "Nghi cơn đau thắt ngực không ổn định.",
    "recommendations": "Chuyển tuyến trung ương trong 24 giờ.",
    "recommended_tests": "Điện tâm đồ, troponin",
    "disposition": "manage_locally",
}


async def test_the_whole_flow(network: Network) -> None:
    consult = await file_consult(network)
    cid = consult["id"]
    assert consult["status"] == "submitted"
    assert consult["clinical"] is True
    # The cardiology queue of the central hospital shows it, ordered by deadline.
    queue = await network.client.get(
        "/api/v1/consults?queue=specialty", headers=await network.headers("specialist")
    )
    assert cid in [c["id"] for c in (await queue.json())["items"]]
    # The requester attaches an ECG picture; the specialist downloads it once accepted.
    ecg = await attach(network, "doctor_a", cid, png(), "Điện tâm đồ.png")
    assert ecg["kind"] == "image"
    accepted = await (await act(network, "specialist", cid, "accept")).json()
    download = await network.client.get(
        ecg["download_url"], headers=await network.headers("specialist")
    )
    assert download.status == 200
    assert await download.read() == png()
    assert accepted["status"] == "accepted"
    assert accepted["assignees"][0]["lead"] is True
    info = await act(
        network,
        "specialist",
        cid,
        "request-info",
        {"question": "Xin kết quả điện tâm đồ lúc nhập viện."},
    )
    assert (await info.json())["status"] == "info_requested"
    amended = await act(
        network,
        "doctor_a",
        cid,
        "amend",
        {
            "summary": {"history": "Đau ngực 2 ngày; ECG: ST chênh xuống V4-V6."},
            "note": "Bổ sung điện tâm đồ",
        },
    )
    body = await amended.json()
    assert body["status"] == "accepted"
    assert body["version"] == 2
    signed = await (await act(network, "specialist", cid, "opinion", OPINION)).json()
    assert signed["status"] == "answered"
    assert signed["opinion"]["version"] == 1
    assert len(signed["opinion"]["content_hash"]) == 64
    # An amended opinion is a new version and needs a reason.
    no_reason = await act(network, "specialist", cid, "opinion", OPINION)
    assert no_reason.status == 400
    second = await act(
        network,
        "specialist",
        cid,
        "opinion",
        {
            **OPINION,
            "disposition": "transfer",
            "transfer_facility_id": network.facilities["C0"],
            "amendment_reason": "Troponin tăng",
        },
    )
    assert (await second.json())["opinion"]["version"] == 2
    versions = await network.client.get(
        f"/api/v1/consults/{cid}/opinions", headers=await network.headers("doctor_a")
    )
    assert [o["version"] for o in await versions.json()] == [1, 2]
    timeline = await network.client.get(
        f"/api/v1/consults/{cid}/timeline", headers=await network.headers("doctor_a")
    )
    kinds = [e["kind"] for e in (await timeline.json())["items"]]
    assert kinds == [
        "created",
        "submitted",
        "attachment_added",
        "accepted",
        "info_requested",
        "amended",
        "info_provided",
        "opinion_signed",
        "opinion_signed",
    ]


async def test_messages_and_a_reply_ends_the_information_hold(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    await act(network, "specialist", cid, "accept")
    await act(network, "specialist", cid, "request-info", {"question": "Cân nặng?"})
    reply = await act(network, "doctor_a", cid, "messages", {"text": "52 kg"})
    assert reply.status == 201
    got = await network.client.get(
        f"/api/v1/consults/{cid}", headers=await network.headers("doctor_a")
    )
    assert (await got.json())["status"] == "accepted"


async def test_drafts_are_private_and_submitted_requests_only_change_by_amendment(
    network: Network,
) -> None:
    draft = await file_consult(network, draft=True)
    cid = draft["id"]
    assert draft["status"] == "draft"
    hidden = await network.client.get(
        f"/api/v1/consults/{cid}", headers=await network.headers("specialist")
    )
    assert hidden.status == 404
    edit = await network.client.patch(
        f"/api/v1/consults/{cid}",
        json={"urgency": "urgent"},
        headers=await network.headers("doctor_a"),
    )
    assert (await edit.json())["urgency"] == "urgent"
    submitted = await (await act(network, "doctor_a", cid, "submit")).json()
    assert submitted["status"] == "submitted"
    again = await network.client.patch(
        f"/api/v1/consults/{cid}",
        json={"urgency": "routine"},
        headers=await network.headers("doctor_a"),
    )
    assert again.status == 409


async def test_declining_a_named_request_returns_it_to_the_queue(network: Network) -> None:
    specialist = await practitioner_id(network, "specialist")
    cid = (await file_consult(network, target_practitioner_id=specialist))["id"]
    back = await (
        await act(network, "specialist", cid, "decline", {"reason": "Đang nghỉ phép"})
    ).json()
    assert back["status"] == "submitted"
    assert back["target_practitioner_id"] is None
    final = await (
        await act(network, "specialist", cid, "decline", {"reason": "Không thuộc chuyên khoa"})
    ).json()
    assert final["status"] == "declined"


async def test_who_sees_what(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    url = f"/api/v1/consults/{cid}"
    other_district = await network.client.get(url, headers=await network.headers("doctor_b"))
    assert other_district.status == 404
    admin = await (await network.client.get(url, headers=await network.headers("admin"))).json()
    assert admin["clinical"] is False
    assert admin["question"] is None
    assert admin["summary"] is None
    assert admin["patient"] is None
    timeline = await network.client.get(url + "/timeline", headers=await network.headers("admin"))
    assert timeline.status == 403
    # A specialist of a specialty that was not asked cannot see it.
    paeds = await file_consult(network, specialty="paediatrics")
    resp = await network.client.get(
        f"/api/v1/consults/{paeds['id']}", headers=await network.headers("specialist")
    )
    assert resp.status == 404
    assert (await act(network, "specialist", paeds["id"], "accept")).status == 404


async def test_a_doctor_files_only_for_their_own_facilitys_patients(network: Network) -> None:
    resp = await network.client.post(
        "/api/v1/consults",
        json={
            "patient_id": network.patients["patient_b"],
            "specialty": "cardiology",
            "urgency": "routine",
            "question": "?",
        },
        headers=await network.headers("doctor_a"),
    )
    assert resp.status == 404


async def _outbox_count(network: Network, cid: str) -> int:
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        return int(
            await uow.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.object_id == cid, OutboxMessage.topic == "consult.overdue")
            )
            or 0
        )


async def test_routine_request_is_overdue_after_72_hours_and_notified_once(
    network: Network,
) -> None:
    app = network.client.app
    specialist = await practitioner_id(network, "specialist")
    await network.client.patch(
        "/api/v1/me", json={"email": "bs.tim@bvtw.vn"}, headers=await network.headers("specialist")
    )
    now = utcnow()
    async with UnitOfWork(app[keys.SESSIONMAKER]) as uow:
        uow.session.add(
            OnCallShift(
                specialty_code="cardiology",
                facility_id=network.facilities["C0"],
                practitioner_id=specialist,
                start_at=now,
                end_at=now + timedelta(days=10),
            )
        )
        await uow.commit()
    cid = (await file_consult(network, urgency="routine"))["id"]

    def at(hours: float) -> Any:
        return lambda: now + timedelta(hours=hours)

    early = ConsultService(app[keys.SESSIONMAKER], app[keys.SETTINGS], clock=at(71.9))
    assert await early.mark_overdue() == 0
    late = ConsultService(app[keys.SESSIONMAKER], app[keys.SETTINGS], clock=at(72.1))
    assert await late.mark_overdue() == 1
    sent = await _outbox_count(network, cid)
    assert sent >= 1
    # A restarted node (a new service over the same database) does not notify again.
    restarted = ConsultService(app[keys.SESSIONMAKER], app[keys.SETTINGS], clock=at(80))
    assert await restarted.mark_overdue() == 0
    assert await _outbox_count(network, cid) == sent
    async with UnitOfWork(app[keys.SESSIONMAKER]) as uow:
        recipients = set(
            (
                await uow.session.scalars(
                    select(OutboxMessage.recipient).where(OutboxMessage.object_id == cid)
                )
            ).all()
        )
        row = await uow.session.get(ConsultRequest, cid)
        assert row is not None
        assert row.overdue_at is not None
    assert "bs.tim@bvtw.vn" in recipients
    got = await network.client.get(
        f"/api/v1/consults/{cid}", headers=await network.headers("doctor_a")
    )
    assert (await got.json())["overdue"] is True


@pytest.mark.parametrize("status", ["draft", "answered", "declined", "cancelled"])
async def test_the_queue_never_widens_to_requests_outside_it(network: Network, status: str) -> None:
    """A status filter narrows the specialty queue; it never lists drafts or closed ones."""
    draft = await file_consult(network, draft=True)
    withdrawn = await file_consult(network)
    await act(network, "doctor_a", withdrawn["id"], "cancel", {"reason": "Bệnh nhân đã ổn"})
    resp = await network.client.get(
        f"/api/v1/consults?queue=specialty&status={status}",
        headers=await network.headers("specialist"),
    )
    assert resp.status == 200
    listed = {c["id"] for c in (await resp.json())["items"]}
    assert listed.isdisjoint({draft["id"], withdrawn["id"]})


async def test_a_scheduled_session_gives_the_consult_one_relay_room(network: Network) -> None:
    await network.client.patch(
        "/api/v1/me", json={"email": "bs.a@bvh.vn"}, headers=await network.headers("doctor_a")
    )
    cid = (await file_consult(network))["id"]
    assert (await (await act(network, "specialist", cid, "accept")).json())["room_id"] is None
    first_start = utcnow() + timedelta(hours=2)
    first = await act(network, "specialist", cid, "schedule", {"start": first_start.isoformat()})
    room_id = (await first.json())["room_id"]
    assert room_id is not None
    later_start = first_start + timedelta(days=1)
    moved = await act(network, "specialist", cid, "schedule", {"start": later_start.isoformat()})
    assert (await moved.json())["room_id"] == room_id  # rescheduling keeps the room
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        rooms = (await uow.session.scalars(select(Room).where(Room.subject_id == cid))).all()
        assert [(r.id, r.kind, r.mode, r.state) for r in rooms] == [
            (room_id, "consult", "relay", "scheduled")
        ]
        assert rooms[0].scheduled_at == later_start
        # The requester is told of each time, in Vietnam time.
        notices = (
            await uow.session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.object_id == cid,
                    OutboxMessage.topic == "consult.session_scheduled",
                )
            )
        ).all()
        assert len(notices) == 2  # one e-mail per scheduled time
        assert {n.recipient_user_id for n in notices} == {network.users["doctor_a"]}
        local = later_start.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%H:%M %d/%m/%Y")
        assert any(local in n.body for n in notices)


async def test_amendments_keep_what_they_replaced_and_the_rest_of_the_case(
    network: Network,
) -> None:
    cid = (await file_consult(network))["id"]
    first = await act(
        network,
        "doctor_a",
        cid,
        "amend",
        {"summary": {"history": "Đau ngực 3 ngày."}, "note": "Sửa thời gian"},
    )
    body = await first.json()
    # Only the history changed: the examination and vital signs stay as filed.
    assert body["summary"]["history"] == "Đau ngực 3 ngày."
    assert body["summary"]["examination"] == CASE["examination"]
    assert body["summary"]["vitals"]["heart_rate"] == CASE["vitals"]["heart_rate"]
    await act(network, "doctor_a", cid, "amend", {"urgency": "urgent", "note": "Nặng hơn"})
    resp = await network.client.get(
        f"/api/v1/consults/{cid}/amendments", headers=await network.headers("specialist")
    )
    assert resp.status == 200, await resp.text()
    history = await resp.json()
    assert [(a["version"], a["note"]) for a in history] == [(2, "Sửa thời gian"), (3, "Nặng hơn")]
    assert history[0]["previous"]["summary"]["history"] == CASE["history"]
    assert history[0]["changes"]["summary"]["history"] == "Đau ngực 3 ngày."
    assert history[1]["previous"] == {"urgency": "routine"}
    assert history[1]["changes"] == {"urgency": "urgent"}
    assert history[1]["author"]["id"] == network.users["doctor_a"]


async def test_the_whole_queue_is_reached_page_by_page_in_deadline_order(
    network: Network,
) -> None:
    ids = [(await file_consult(network, urgency=u))["id"] for u in ("routine", "urgent") * 3]
    headers = await network.headers("specialist")
    seen: list[dict[str, Any]] = []
    url: str | None = "/api/v1/consults?queue=specialty&limit=4"
    while url:
        resp = await network.client.get(url, headers=headers)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert len(body["items"]) <= 4
        seen += body["items"]
        url = (
            f"/api/v1/consults?queue=specialty&limit=4&cursor={body['next']}"
            if body["next"]
            else None
        )
    assert sorted(c["id"] for c in seen) == sorted(ids)  # every one, once
    due = [c["due_at"] for c in seen]
    assert due == sorted(due)  # the three urgent ones (24 h) before the routine ones
    assert {c["urgency"] for c in seen[:3]} == {"urgent"}
