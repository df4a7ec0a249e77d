"""A routine consult goes overdue after 72 h, and the specialist on call and the requester
hear of it exactly once, although `telehealth serve` is SIGKILLed right after the mark.

No fake clock in the server: the test moves the request's submission and deadline 72 h
(and a minute) into the past in the database, which is what 72 h of waiting looks like to
the server, and lets the real deadline watch and outbox dispatcher of real processes run.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from telehealth.auth.models import AuditEvent
from telehealth.consults.models import ConsultEvent, ConsultRequest
from telehealth.db.base import utcnow
from telehealth.outbox.models import OutboxMessage
from tests.support.outbox import Mailbox, SmsGateway
from tests.support.processes import DemoApi, Stage, crash_stage

# Obstetrics: a specialty the demo network has no on-call rota for, so the test decides
# who is on call.
SPECIALIST = "bs.thu"  # obstetrics, central hospital BVTW
REQUESTER = "bs.tuan"  # district hospital BVH-NAMSON
PATIENT = "Nguyễn Văn Bình"  # a patient of BVH-NAMSON
CONTACTS = {
    SPECIALIST: ("thu.sanphu@bvtw.test", "0911222333"),
    REQUESTER: ("tuan.namson@bvh.test", "0977888999"),
}
ROUTINE = timedelta(hours=72)
WATCH_SECONDS = "0.1"
# Several watch rounds and outbox polls: long enough for a second mark or send to show.
SETTLE_SECONDS = 0.5


async def consult_row(engine: AsyncEngine, consult_id: str) -> tuple[datetime | None, ...]:
    """submitted_at, due_at and overdue_at, straight from the server's database."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    ConsultRequest.submitted_at, ConsultRequest.due_at, ConsultRequest.overdue_at
                ).where(ConsultRequest.id == consult_id)
            )
        ).one()
        return tuple(row)


async def let_72_hours_pass(engine: AsyncEngine, consult_id: str) -> None:
    """Move the submission and the deadline 72 h and a minute into the past."""
    shift = ROUTINE + timedelta(minutes=1)
    submitted, due, _ = await consult_row(engine, consult_id)
    assert submitted is not None
    assert due is not None
    assert due - submitted == ROUTINE
    async with engine.begin() as conn:
        await conn.execute(
            update(ConsultRequest)
            .where(ConsultRequest.id == consult_id)
            .values(submitted_at=submitted - shift, due_at=due - shift)
        )


async def wait_for_mark(engine: AsyncEngine, consult_id: str) -> datetime:
    """Poll until the watch has committed the overdue mark; returns it."""
    async with asyncio.timeout(20):
        while True:
            overdue_at = (await consult_row(engine, consult_id))[2]
            if overdue_at is not None:
                return overdue_at
            await asyncio.sleep(0.01)


async def notices(engine: AsyncEngine, consult_id: str) -> list[tuple[str, str, str, str]]:
    """(id, channel, recipient, status) of every overdue notice of the consult."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.channel,
                OutboxMessage.recipient,
                OutboxMessage.status,
            ).where(OutboxMessage.object_id == consult_id, OutboxMessage.topic == "consult.overdue")
        )
        return sorted(tuple(r) for r in rows.all())  # type: ignore[misc]


async def marks(engine: AsyncEngine, consult_id: str) -> tuple[int, int]:
    """How many overdue events the timeline and the audit log hold for the consult."""
    async with engine.connect() as conn:
        events = await conn.scalar(
            select(func.count())
            .select_from(ConsultEvent)
            .where(ConsultEvent.consult_id == consult_id, ConsultEvent.kind == "overdue")
        )
        audited = await conn.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_id == consult_id, AuditEvent.action == "consult.overdue")
        )
        return int(events or 0), int(audited or 0)


async def wait_until_sent(engine: AsyncEngine, consult_id: str) -> None:
    """Wait until every overdue notice is recorded as sent."""
    async with asyncio.timeout(30):
        while True:
            rows = await notices(engine, consult_id)
            if rows and all(r[3] == "sent" for r in rows):
                return
            await asyncio.sleep(0.05)


async def file_routine_consult(api: DemoApi) -> str:
    """bs.thu puts herself on call now; bs.tuan asks obstetrics about a patient of his."""
    for who, (email, phone) in CONTACTS.items():
        await api.call("PATCH", "/api/v1/me", who, json={"email": email, "phone": phone})
    me = await api.call("GET", "/api/v1/me", SPECIALIST)
    now = utcnow()
    await api.call(
        "POST",
        "/api/v1/on-call",
        SPECIALIST,
        json={
            "specialty": "obstetrics",
            "facility_id": me["facility"]["id"],
            "practitioner_id": me["practitioner_id"],
            "start_at": (now - timedelta(minutes=1)).isoformat(),
            "end_at": (now + timedelta(days=1)).isoformat(),
        },
    )
    patients = await api.call("GET", "/api/v1/patients", REQUESTER, params={"q": PATIENT})
    (patient,) = [p for p in patients["items"] if p["full_name"] == PATIENT]
    consult = await api.call(
        "POST",
        "/api/v1/consults",
        REQUESTER,
        json={
            "patient_id": patient["id"],
            "specialty": "obstetrics",
            "urgency": "routine",
            "question": "Đau ngực khi gắng sức, có cần chụp mạch vành không?",
        },
    )
    assert consult["status"] == "submitted"
    return str(consult["id"])


def assert_one_notice_each(
    rows: list[tuple[str, str, str, str]], mailbox: Mailbox, gateway: SmsGateway
) -> None:
    """One e-mail and one text per person, each received exactly once under its own id."""
    emails = {recipient: i for i, channel, recipient, _ in rows if channel == "email"}
    texts = {recipient: i for i, channel, recipient, _ in rows if channel == "sms"}
    assert len(rows) == 4
    assert set(emails) == {email for email, _ in CONTACTS.values()}
    assert set(texts) == {phone for _, phone in CONTACTS.values()}
    received = mailbox.ids()
    assert len(received) == len(set(received)), "an e-mail arrived twice"
    for email, outbox_id in emails.items():
        copies = [m for m in mailbox.messages if m["To"] == email]
        assert [str(m["Message-ID"]) for m in copies] == [f"<{outbox_id}@telehealth.test>"]
    delivered = gateway.ids()
    assert len(delivered) == len(set(delivered)), "a text arrived twice"
    for phone, outbox_id in texts.items():
        assert [d["id"] for d in gateway.delivered if d["to"] == phone] == [outbox_id]


async def test_overdue_is_marked_and_notified_once_across_a_sigkill(
    backend: str, tmp_path: Path
) -> None:
    async with (
        asyncio.timeout(120),
        crash_stage(
            backend,
            tmp_path,
            OUTBOX_POLL_SECONDS="0.1",
            CONSULT_WATCH_SECONDS=WATCH_SECONDS,
        ) as stage,
    ):
        await run_scenario(stage)


async def run_scenario(stage: Stage) -> None:
    """File with the sender off; let 72 h pass; SIGKILL right after the mark; restart."""
    engine, mailbox, gateway, api = stage.engine, stage.mailbox, stage.gateway, stage.api
    async with stage.serve(OUTBOX_ENABLED="false") as first:
        consult_id = await file_routine_consult(api)
        await asyncio.sleep(SETTLE_SECONDS)  # the watch runs, but nothing is due yet
        assert (await consult_row(engine, consult_id))[2] is None
        assert await notices(engine, consult_id) == []
        await let_72_hours_pass(engine, consult_id)
        marked_at = await wait_for_mark(engine, consult_id)
        await first.crash()
    pending = await notices(engine, consult_id)
    assert {(channel, status) for _, channel, _, status in pending} == {
        ("email", "pending"),
        ("sms", "pending"),
    }
    assert await marks(engine, consult_id) == (1, 1)
    assert not mailbox.messages
    assert not gateway.requests

    async with stage.serve(OUTBOX_ENABLED="true") as second:
        await wait_until_sent(engine, consult_id)
        await asyncio.sleep(SETTLE_SECONDS)  # more watch rounds and polls after the sending
        answer: Any = await api.call("GET", f"/api/v1/consults/{consult_id}", REQUESTER)
        assert answer["overdue"] is True
        second.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.process.wait(), 20) == 0, second.log
        assert "Traceback" not in second.log

    assert (await consult_row(engine, consult_id))[2] == marked_at
    assert await marks(engine, consult_id) == (1, 1)
    rows = await notices(engine, consult_id)
    assert [r[0] for r in rows] == [r[0] for r in pending]
    assert_one_notice_each(rows, mailbox, gateway)
    assert len(gateway.requests) == len(gateway.delivered)  # nothing failed on the way
