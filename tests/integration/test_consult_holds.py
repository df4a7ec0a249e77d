"""The deadline's clock while a request waits on its requester, a second deadline after an
amendment, a colleague told of a consult handed to them, and deadline watches of several
nodes that never mark one request twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from telehealth import keys
from telehealth.consults.models import ConsultEvent, ConsultRequest
from telehealth.consults.repository import ConsultRepository
from telehealth.consults.service import ConsultService
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.outbox.models import OutboxMessage
from tests.support.consults import act, add_specialist, emails, file_consult, with_email
from tests.support.network import Network

H = timedelta(hours=1)


def watch(net: Network, at: datetime | None = None) -> ConsultService:
    """The deadline watch's service, its clock at `at` (now by default)."""
    app = net.client.app
    return ConsultService(app[keys.SESSIONMAKER], app[keys.SETTINGS], clock=lambda: at or utcnow())


async def set_consult(net: Network, consult_id: str, **values: Any) -> None:
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        await uow.session.execute(
            update(ConsultRequest).where(ConsultRequest.id == consult_id).values(**values)
        )
        await uow.commit()


async def consult_json(net: Network, consult_id: str) -> dict[str, Any]:
    resp = await net.client.get(
        f"/api/v1/consults/{consult_id}", headers=await net.headers("doctor_a")
    )
    return dict(await resp.json())


async def overdue_messages(net: Network, consult_id: str) -> int:
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        count = await uow.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.object_id == consult_id, OutboxMessage.topic == "consult.overdue")
        )
        return int(count or 0)


async def on_hold(net: Network, waited: timedelta, past_due: timedelta) -> str:
    """An urgent consult the specialist accepted and asked about `waited` ago, its deadline
    `past_due` behind it."""
    cid = str((await file_consult(net, urgency="urgent"))["id"])
    assert (await act(net, "specialist", cid, "accept")).status == 200
    question = {"question": "Xin kết quả men tim."}
    assert (await act(net, "specialist", cid, "request-info", question)).status == 200
    now = utcnow()
    await set_consult(net, cid, due_at=now - past_due)
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        await uow.session.execute(
            update(ConsultEvent)
            .where(ConsultEvent.consult_id == cid, ConsultEvent.kind == "info_requested")
            .values(at=now - waited)
        )
        await uow.commit()
    return cid


async def test_the_deadline_stops_while_the_request_waits_on_its_requester(
    network: Network,
) -> None:
    await with_email(network, "specialist", "tim@bvtw.vn")
    cid = await on_hold(network, waited=5 * H, past_due=H)
    # Past its deadline, but waiting on the district doctor: nobody is paged, and the
    # figures do not count it late.
    assert await watch(network).mark_overdue() == 0
    figures = await network.client.get(
        "/api/v1/consults/stats", headers=await network.headers("admin")
    )
    assert (await figures.json())["total"]["overdue"] == 0
    before = datetime.fromisoformat((await consult_json(network, cid))["due_at"])

    reply = await act(network, "doctor_a", cid, "messages", {"text": "Troponin I 0,8 ng/mL."})
    assert reply.status == 201
    after = await consult_json(network, cid)
    assert after["status"] == "accepted"
    moved = datetime.fromisoformat(after["due_at"]) - before
    assert 5 * H <= moved < 5 * H + timedelta(minutes=1)  # the five hours it waited
    assert after["overdue"] is False
    timeline = await network.client.get(
        f"/api/v1/consults/{cid}/timeline", headers=await network.headers("specialist")
    )
    kinds = [e["kind"] for e in (await timeline.json())["items"]]
    assert kinds[-2:] == ["message", "info_provided"]
    # The specialist who asked hears of the reply.
    assert [m.recipient for m in await emails(network, cid, "consult.info_provided")] == [
        "tim@bvtw.vn"
    ]
    # The clock runs again from the moved deadline.
    assert await watch(network).mark_overdue() == 0
    assert await watch(network, utcnow() + 4 * H + timedelta(minutes=5)).mark_overdue() == 1


async def test_an_answer_given_while_waiting_counts_the_wait_out(network: Network) -> None:
    cid = await on_hold(network, waited=3 * H, past_due=H)
    opinion = {"assessment": "Nhồi máu cơ tim", "recommendations": "Chuyển tuyến"}
    signed = await act(
        network, "specialist", cid, "opinion", {**opinion, "disposition": "manage_locally"}
    )
    assert signed.status == 200, await signed.text()
    body = await signed.json()
    # Answered about an hour before the deadline moved by the three hours it waited.
    assert datetime.fromisoformat(body["answered_at"]) < datetime.fromisoformat(body["due_at"])
    figures = await network.client.get(
        "/api/v1/consults/stats", headers=await network.headers("admin")
    )
    assert (await figures.json())["total"]["answered_in_time"] == 1


async def test_a_later_deadline_that_passes_notifies_again(network: Network) -> None:
    await with_email(network, "doctor_a", "bs.a@bvh.vn")
    cid = (await file_consult(network, urgency="urgent"))["id"]
    now = utcnow()
    await set_consult(network, cid, submitted_at=now - 30 * H, due_at=now - 6 * H)
    assert await watch(network).mark_overdue() == 1
    first = await overdue_messages(network, cid)
    assert first == 1  # the requester's e-mail (nobody is on call)
    # Lowered to routine, the request is due 72 h after submission: not overdue any more.
    lowered = await act(network, "doctor_a", cid, "amend", {"urgency": "routine", "note": "Ổn"})
    assert (await lowered.json())["overdue"] is False
    assert await watch(network).mark_overdue() == 0
    # When that deadline passes too, the watch marks it and notifies again, once.
    assert await watch(network, now + 43 * H).mark_overdue() == 1
    assert await watch(network, now + 44 * H).mark_overdue() == 0
    assert await overdue_messages(network, cid) == 2


async def test_a_colleague_is_told_of_a_consult_handed_to_them(network: Network) -> None:
    colleague = await add_specialist(network, "bs.lan", "C0", ["cardiology"])
    await with_email(network, "bs.lan", "lan@bvtw.vn")
    cid = (await file_consult(network))["id"]
    assert (await act(network, "specialist", cid, "accept")).status == 200
    body = {"practitioner_id": colleague, "mode": "add"}
    assert (await act(network, "specialist", cid, "assign", body)).status == 200
    [sent] = await emails(network, cid, "consult.assigned")
    assert sent.recipient == "lan@bvtw.vn"
    # Adding someone already on the consult tells nobody again.
    assert (await act(network, "specialist", cid, "assign", body)).status == 200
    assert len(await emails(network, cid, "consult.assigned")) == 1


async def test_watches_of_two_nodes_never_take_the_same_request(
    network: Network, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's: SQLite has one writer, one watch at a time")
    cid = (await file_consult(network))["id"]
    await set_consult(network, cid, due_at=utcnow() - H)
    sessions = network.client.app[keys.SESSIONMAKER]
    # Another node's watch is marking this request: its row is locked.
    async with UnitOfWork(sessions) as other:
        assert await ConsultRepository(other.session).consult(cid, lock=True) is not None
        assert await watch(network).mark_overdue() == 0
    assert await watch(network).mark_overdue() == 1
