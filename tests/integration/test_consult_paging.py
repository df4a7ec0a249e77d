"""Who hears of a consult before its deadline: the specialist on call when an emergency is
submitted or a request is raised to one, a named specialist when a request is addressed to
them, and the specialists who asked for information when the requester adds it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from telehealth import keys
from telehealth.app import create_app
from telehealth.config import Settings
from telehealth.consults.models import OnCallShift
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from tests.support.consults import act, add_specialist, emails, file_consult, with_email
from tests.support.network import Network, build_network
from tests.support.scheduling import practitioner_id


async def on_call(net: Network, username: str) -> None:
    """`username` is the cardiologist on call at the central hospital for the next day."""
    now = utcnow()
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        uow.session.add(
            OnCallShift(
                specialty_code="cardiology",
                facility_id=net.facilities["C0"],
                practitioner_id=await practitioner_id(net, username),
                start_at=now - timedelta(hours=1),
                end_at=now + timedelta(days=1),
            )
        )
        await uow.commit()


@pytest.fixture
async def paging(network: Network) -> Network:
    """The cardiologist `specialist` on call, reachable by e-mail."""
    await with_email(network, "specialist", "truc@bvtw.vn")
    await on_call(network, "specialist")
    return network


async def test_an_emergency_pages_the_specialist_on_call_when_submitted(paging: Network) -> None:
    cid = (await file_consult(paging, urgency="emergency"))["id"]
    [sent] = await emails(paging, cid, "consult.new_request")
    assert sent.recipient == "truc@bvtw.vn"
    assert "cấp cứu" in sent.body  # the urgency in the specialist's language (vi)
    assert sent.recipient_user_id == paging.users["specialist"]
    # A routine request waits in the queue without paging anyone.
    routine = (await file_consult(paging, urgency="routine"))["id"]
    assert await emails(paging, routine, "consult.new_request") == []


async def test_a_draft_pages_nobody_until_it_is_submitted(paging: Network) -> None:
    cid = (await file_consult(paging, urgency="emergency", draft=True))["id"]
    assert await emails(paging, cid, "consult.new_request") == []
    assert (await act(paging, "doctor_a", cid, "submit")).status == 200
    assert [m.recipient for m in await emails(paging, cid, "consult.new_request")] == [
        "truc@bvtw.vn"
    ]


async def test_a_request_named_to_a_specialist_tells_them_at_any_urgency(
    paging: Network,
) -> None:
    named = await add_specialist(paging, "bs.nam", "C0", ["cardiology"])
    await with_email(paging, "bs.nam", "nam@bvtw.vn")
    routine = (await file_consult(paging, target_practitioner_id=named))["id"]
    assert [m.recipient for m in await emails(paging, routine, "consult.new_request")] == [
        "nam@bvtw.vn"
    ]
    # Named and on call at once: one message each, however the two lists overlap.
    emergency = await file_consult(
        paging,
        urgency="emergency",
        target_practitioner_id=await practitioner_id(paging, "specialist"),
    )
    assert [m.recipient for m in await emails(paging, emergency["id"], "consult.new_request")] == [
        "truc@bvtw.vn"
    ]


async def test_raising_a_request_to_emergency_pages_once(paging: Network) -> None:
    cid = (await file_consult(paging, urgency="routine"))["id"]
    raised = await act(paging, "doctor_a", cid, "amend", {"urgency": "emergency", "note": "Xấu đi"})
    assert raised.status == 200, await raised.text()
    assert (await raised.json())["urgency"] == "emergency"
    [sent] = await emails(paging, cid, "consult.escalated")
    assert sent.recipient == "truc@bvtw.vn"
    # Further amendments of an emergency page nobody again, nor does lowering and raising.
    for body in (
        {"question": "Thêm: men tim tăng.", "note": "Kết quả mới"},
        {"urgency": "urgent", "note": "Ổn định hơn"},
        {"urgency": "emergency", "note": "Lại xấu đi"},
    ):
        assert (await act(paging, "doctor_a", cid, "amend", body)).status == 200
    assert len(await emails(paging, cid, "consult.escalated")) == 1


async def test_the_specialists_who_asked_hear_when_the_information_is_added(
    paging: Network,
) -> None:
    cid = (await file_consult(paging))["id"]
    assert (await act(paging, "specialist", cid, "accept")).status == 200
    question = {"question": "Xin kết quả điện tâm đồ lúc nhập viện."}
    assert (await act(paging, "specialist", cid, "request-info", question)).status == 200
    answer: dict[str, Any] = {"question": "Đã có ĐTĐ: ST chênh lên.", "note": "Bổ sung"}
    amended = await act(paging, "doctor_a", cid, "amend", answer)
    assert (await amended.json())["status"] == "accepted"
    [sent] = await emails(paging, cid, "consult.info_provided")
    assert sent.recipient == "truc@bvtw.vn"
    assert "phiên bản 2" in sent.body
    # An amendment nobody asked for tells nobody.
    assert (
        await act(paging, "doctor_a", cid, "amend", {**answer, "note": "Sửa chữ"})
    ).status == 200
    assert len(await emails(paging, cid, "consult.info_provided")) == 1


async def test_paging_on_submit_can_be_turned_off(aiohttp_client: Any, settings: Settings) -> None:
    quiet = settings.with_overrides(consults=replace(settings.consults, page_on_submit=()))
    net = await build_network(await aiohttp_client(create_app(quiet)), quiet)
    await with_email(net, "specialist", "truc@bvtw.vn")
    await on_call(net, "specialist")
    cid = (await file_consult(net, urgency="emergency"))["id"]
    assert await emails(net, cid, "consult.new_request") == []
