"""The outbox dispatcher against a real SMTP server (aiosmtpd) and a real HTTP endpoint
standing in for the SMS gateway, with appointments booked through the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import delete, select

from telehealth import keys
from telehealth.app import create_app
from telehealth.config import OutboxSettings, Settings, SmsSettings, SmtpSettings
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.outbox.dispatcher import OutboxDispatcher, OutboxMetrics
from telehealth.outbox.models import MessageStatus, OutboxMessage
from telehealth.outbox.repository import OutboxRepository
from telehealth.outbox.transports import build_transports
from tests.support.network import Network, build_network
from tests.support.outbox import Mailbox, SmsGateway
from tests.support.scheduling import open_every_day

SMS_TOKEN = "gateway-token"
SENDER = "Telehealth <no-reply@telehealth.test>"
PATIENT_EMAIL = "lo.van.tu@example.org"
PATIENT_PHONE = "0912345678"  # patient_self registered with this number
MAX_ATTEMPTS = 3
BACKOFF_BASE = 30.0
LEASE = 60.0


# --- stand-ins for the world outside --------------------------------------------------------


class ShiftedClock:
    """Real time plus a shift the test moves forward, so due times can be reached at once."""

    def __init__(self) -> None:
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.shift

    def jump_to(self, at: datetime) -> None:
        """Make `at` the current time (the clock keeps running from there)."""
        self.shift = at - utcnow()

    def advance(self, by: timedelta) -> None:
        """Move the clock forward."""
        self.shift += by


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    box = Mailbox()
    await box.start()
    yield box
    await box.stop()


@pytest.fixture
async def gateway() -> AsyncIterator[SmsGateway]:
    gw = SmsGateway()
    await gw.start()
    yield gw
    await gw.stop()


@pytest.fixture
def settings(settings: Settings, mailbox: Mailbox, gateway: SmsGateway) -> Settings:
    """The suite's settings, with both channels pointing at the stand-ins; the app's own
    dispatcher is off so each test drives `dispatch_once()` itself."""
    return settings.with_overrides(
        smtp=SmtpSettings(host="127.0.0.1", port=mailbox.port, sender=SENDER, timeout=5),
        sms=SmsSettings(webhook_url=gateway.url, token=SMS_TOKEN, timeout=5),
        outbox=OutboxSettings(
            enabled=False,
            max_attempts=MAX_ATTEMPTS,
            backoff_base_seconds=BACKOFF_BASE,
            lease_seconds=LEASE,
        ),
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def network(client: TestClient[Any, Any], settings: Settings) -> Network:
    """The test network, without the notice its self-registered patient was sent: these
    tests count what appointments queue (registration notices have tests of their own)."""
    net = await build_network(client, settings)
    async with UnitOfWork(client.app[keys.SESSIONMAKER]) as uow:
        await uow.session.execute(
            delete(OutboxMessage).where(OutboxMessage.topic.like("registration.%"))
        )
        await uow.commit()
    return net


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def make_dispatcher(
    client: TestClient[Any, Any],
    settings: Settings,
    http: aiohttp.ClientSession,
    clock: ShiftedClock,
    registry: CollectorRegistry | None = None,
) -> OutboxDispatcher:
    """A dispatcher on the app's database, as another node (or the app itself) would run."""
    return OutboxDispatcher(
        client.app[keys.SESSIONMAKER],
        settings.outbox,
        build_transports(settings, http),
        clock=clock,
        metrics=OutboxMetrics(registry) if registry is not None else None,
    )


@pytest.fixture
def dispatcher(
    client: TestClient[Any, Any],
    settings: Settings,
    http: aiohttp.ClientSession,
    clock: ShiftedClock,
    registry: CollectorRegistry,
) -> OutboxDispatcher:
    return make_dispatcher(client, settings, http, clock, registry)


# --- helpers ----------------------------------------------------------------------------


async def set_contact(net: Network, locale: str | None = None) -> None:
    """Give patient_self an e-mail address (and a language)."""
    body: dict[str, str] = {"email": PATIENT_EMAIL}
    if locale:
        body["locale"] = locale
    resp = await net.client.patch(
        "/api/v1/me", json=body, headers=await net.headers("patient_self")
    )
    assert resp.status == 200, await resp.text()


async def book_ahead(net: Network, pid: str, ahead: timedelta) -> tuple[str, datetime]:
    """patient_self books the practitioner's first free slot at least `ahead` from now;
    returns the appointment id and its start."""
    resp = await net.client.get(
        "/api/v1/slots",
        params={"practitioner_id": pid, "from": (utcnow() + ahead).isoformat(), "limit": "1"},
        headers=await net.headers("patient_self"),
    )
    assert resp.status == 200, await resp.text()
    slot = (await resp.json())["items"][0]
    booked = await net.client.post(
        "/api/v1/appointments",
        json={"slot_id": slot["id"], "mode": "video", "reason": "Khó thở về đêm"},
        headers=await net.headers("patient_self"),
    )
    assert booked.status == 201, await booked.text()
    return str((await booked.json())["id"]), datetime.fromisoformat(slot["start"])


async def messages_of(net: Network, appointment_id: str) -> list[OutboxMessage]:
    """The outbox rows about one appointment."""
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.object_id == appointment_id)
            .order_by(OutboxMessage.due_at, OutboxMessage.channel)
        )
        found = list(rows.all())
        uow.session.expunge_all()  # detached rows keep their values past the rollback
        return found


def by_topic(rows: list[OutboxMessage], topic: str, channel: str) -> OutboxMessage:
    """The one row of a topic on a channel."""
    found = [r for r in rows if r.topic == topic and r.channel == channel]
    assert len(found) == 1, [(r.topic, r.channel, r.dedupe_key) for r in rows]
    return found[0]


def counter(registry: CollectorRegistry, channel: str, outcome: str) -> float:
    """The dispatcher's delivery counter for one channel and outcome."""
    value = registry.get_sample_value(
        "telehealth_outbox_deliveries_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


async def confirmation_statuses(net: Network, appointment_id: str) -> set[str]:
    """The statuses of an appointment's confirmation messages."""
    rows = await messages_of(net, appointment_id)
    return {r.status for r in rows if r.topic == "appointment.booked"}


@pytest.fixture
async def booked(network: Network) -> tuple[str, datetime]:
    """patient_self (with an e-mail) booked two days ahead: both reminders are queued."""
    await set_contact(network)
    pid = await open_every_day(network, "specialist")
    return await book_ahead(network, pid, timedelta(days=2))


# --- tests ------------------------------------------------------------------------------


async def test_confirmation_goes_out_once_by_email_and_sms_in_vietnamese(
    network: Network,
    booked: tuple[str, datetime],
    dispatcher: OutboxDispatcher,
    mailbox: Mailbox,
    gateway: SmsGateway,
) -> None:
    appointment_id, _ = booked
    queued = await messages_of(network, appointment_id)
    assert {r.status for r in queued} == {"pending"}
    assert not mailbox.messages  # queued by booking, not sent
    assert not gateway.requests

    assert await dispatcher.dispatch_once() == 2
    email_row = by_topic(await messages_of(network, appointment_id), "appointment.booked", "email")
    [mail] = mailbox.messages
    assert mail["To"] == PATIENT_EMAIL
    assert mail["From"] == SENDER
    assert mail["Subject"] == "Xác nhận lịch khám từ xa"
    assert mail["Message-ID"] == f"<{email_row.id}@telehealth.test>"
    assert mail["Content-Language"] == "vi"
    text = mail.get_content()
    assert "Lịch khám video với Specialist" in text
    assert appointment_id[:8].upper() in text

    [sms] = gateway.requests
    assert sms["to"] == PATIENT_PHONE
    assert sms["text"].startswith("Lịch khám video với Specialist")
    assert sms["authorization"] == f"Bearer {SMS_TOKEN}"
    assert sms["idempotency_key"] == sms["id"]

    rows = await messages_of(network, appointment_id)
    for channel in ("email", "sms"):
        row = by_topic(rows, "appointment.booked", channel)
        assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
        assert row.sent_at is not None
        assert row.claimed_until is None
    assert sms["id"] == by_topic(rows, "appointment.booked", "sms").id
    assert {r.status for r in rows if r.topic == "appointment.reminder"} == {"pending"}

    assert await dispatcher.dispatch_once() == 0
    assert len(mailbox.messages) == 1
    assert len(gateway.requests) == 1


async def test_an_english_speaking_patient_gets_english_texts(
    network: Network, dispatcher: OutboxDispatcher, mailbox: Mailbox, gateway: SmsGateway
) -> None:
    await set_contact(network, locale="en")
    pid = await open_every_day(network, "specialist")
    await book_ahead(network, pid, timedelta(days=2))
    assert await dispatcher.dispatch_once() == 2
    [mail] = mailbox.messages
    assert mail["Subject"] == "Your remote appointment is booked"
    assert mail["Content-Language"] == "en"
    assert mail.get_content().startswith("Your video visit with Specialist")
    assert gateway.delivered[0]["text"].startswith("Your video visit with Specialist")


async def test_reminders_wait_until_due_then_go_out_exactly_once(
    network: Network,
    booked: tuple[str, datetime],
    dispatcher: OutboxDispatcher,
    clock: ShiftedClock,
    mailbox: Mailbox,
    gateway: SmsGateway,
) -> None:
    _, start = booked
    assert await dispatcher.dispatch_once() == 2  # the confirmation

    steps = [
        (start - timedelta(hours=24, seconds=5), 0),
        (start - timedelta(hours=24) + timedelta(seconds=1), 2),
        (start - timedelta(minutes=15, seconds=5), 0),
        (start - timedelta(minutes=15) + timedelta(seconds=1), 2),
        (start - timedelta(minutes=1), 0),
        (start + timedelta(hours=1), 0),
    ]
    for at, expected in steps:
        clock.jump_to(at)
        assert await dispatcher.dispatch_once() == expected, at

    subjects = [m["Subject"] for m in mailbox.messages]
    assert subjects == ["Xác nhận lịch khám từ xa"] + ["Nhắc lịch khám từ xa"] * 2
    assert all(m["To"] == PATIENT_EMAIL for m in mailbox.messages)
    assert len(set(mailbox.ids())) == 3
    texts = [d["text"] for d in gateway.delivered]
    assert len(texts) == 3
    assert all(t.startswith("Nhắc lịch: khám video") for t in texts[1:])
    assert len(set(gateway.ids())) == 3


async def test_a_gateway_error_is_retried_after_a_backoff_until_it_recovers(
    network: Network,
    booked: tuple[str, datetime],
    dispatcher: OutboxDispatcher,
    clock: ShiftedClock,
    gateway: SmsGateway,
    mailbox: Mailbox,
    registry: CollectorRegistry,
) -> None:
    appointment_id, _ = booked
    gateway.answers = [500]
    before = clock()
    assert await dispatcher.dispatch_once() == 2
    assert len(mailbox.messages) == 1  # e-mail is unaffected by the SMS gateway

    row = by_topic(await messages_of(network, appointment_id), "appointment.booked", "sms")
    assert (row.status, row.attempts) == ("pending", 1)
    assert "500" in (row.last_error or "")
    wait = row.next_attempt_at - before
    assert timedelta(seconds=BACKOFF_BASE / 2) <= wait <= timedelta(seconds=BACKOFF_BASE + 5)

    assert await dispatcher.dispatch_once() == 0  # not before the backoff is over
    assert len(gateway.requests) == 1

    clock.jump_to(row.next_attempt_at + timedelta(seconds=1))
    assert await dispatcher.dispatch_once() == 1
    row = by_topic(await messages_of(network, appointment_id), "appointment.booked", "sms")
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert [r["id"] for r in gateway.requests] == [row.id, row.id]
    assert gateway.ids() == [row.id]
    assert counter(registry, "sms", "retry") == 1
    assert counter(registry, "sms", "sent") == 1
    assert counter(registry, "email", "sent") == 1


async def test_a_message_fails_for_good_after_max_attempts(
    network: Network,
    booked: tuple[str, datetime],
    dispatcher: OutboxDispatcher,
    clock: ShiftedClock,
    gateway: SmsGateway,
    registry: CollectorRegistry,
) -> None:
    appointment_id, _ = booked
    gateway.answers = [503] * 10
    assert await dispatcher.dispatch_once() == 2
    for _ in range(MAX_ATTEMPTS + 2):
        clock.advance(timedelta(hours=2))  # past any backoff, before the 24 h reminder
        await dispatcher.dispatch_once()
    row = by_topic(await messages_of(network, appointment_id), "appointment.booked", "sms")
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert "503" in (row.last_error or "")
    assert row.sent_at is None
    assert len(gateway.requests) == MAX_ATTEMPTS
    assert counter(registry, "sms", "retry") == MAX_ATTEMPTS - 1
    assert counter(registry, "sms", "failed") == 1


async def test_a_message_the_gateway_refuses_fails_at_once(
    network: Network,
    booked: tuple[str, datetime],
    dispatcher: OutboxDispatcher,
    clock: ShiftedClock,
    gateway: SmsGateway,
) -> None:
    appointment_id, _ = booked
    gateway.answers = [422]
    assert await dispatcher.dispatch_once() == 2
    clock.advance(timedelta(hours=2))
    assert await dispatcher.dispatch_once() == 0
    row = by_topic(await messages_of(network, appointment_id), "appointment.booked", "sms")
    assert (row.status, row.attempts) == ("failed", 1)
    assert len(gateway.requests) == 1


async def test_cancelling_withdraws_the_reminders_and_sends_the_notice(
    network: Network,
    booked: tuple[str, datetime],
    dispatcher: OutboxDispatcher,
    clock: ShiftedClock,
    mailbox: Mailbox,
    gateway: SmsGateway,
) -> None:
    appointment_id, start = booked
    assert await dispatcher.dispatch_once() == 2
    resp = await network.client.post(
        f"/api/v1/appointments/{appointment_id}/cancel",
        json={"reason": "Bận việc đồng áng"},
        headers=await network.headers("patient_self"),
    )
    assert resp.status == 200, await resp.text()

    assert await dispatcher.dispatch_once() == 2
    assert mailbox.messages[-1]["Subject"] == "Lịch khám từ xa đã bị hủy"
    assert "Bận việc đồng áng" in mailbox.messages[-1].get_content()
    assert "Bận việc đồng áng" in gateway.delivered[-1]["text"]

    for at in (start - timedelta(hours=24), start - timedelta(minutes=15), start):
        clock.jump_to(at + timedelta(seconds=1))
        assert await dispatcher.dispatch_once() == 0
    assert len(mailbox.messages) == 2
    assert len(gateway.delivered) == 2
    reminders = [
        r for r in await messages_of(network, appointment_id) if r.topic == "appointment.reminder"
    ]
    assert len(reminders) == 4
    assert all(r.status == "cancelled" and r.sent_at is None for r in reminders)


async def test_a_reminder_held_by_a_crashed_sender_is_withdrawn_by_a_cancellation(
    network: Network,
    booked: tuple[str, datetime],
    client: TestClient[Any, Any],
    dispatcher: OutboxDispatcher,
    clock: ShiftedClock,
    gateway: SmsGateway,
) -> None:
    appointment_id, start = booked
    clock.jump_to(start - timedelta(hours=24) + timedelta(seconds=1))
    now = clock()
    async with UnitOfWork(client.app[keys.SESSIONMAKER]) as uow:
        claims = await OutboxRepository(uow.session).claim(
            dispatcher.channels, now, now + timedelta(seconds=LEASE), limit=10
        )
        await uow.commit()
    assert sorted(c.message.subject for c in claims if c.message.channel == "email") == [
        "Nhắc lịch khám từ xa",
        "Xác nhận lịch khám từ xa",
    ]
    resp = await network.client.post(
        f"/api/v1/appointments/{appointment_id}/cancel",
        json={"reason": "Đã khỏi bệnh"},
        headers=await network.headers("patient_self"),
    )
    assert resp.status == 200, await resp.text()

    clock.advance(timedelta(seconds=LEASE + 1))
    assert await dispatcher.dispatch_once() == 4  # the confirmation again, and the notice
    rows = await messages_of(network, appointment_id)
    reminders = [r for r in rows if r.topic == "appointment.reminder"]
    assert all(r.status == "cancelled" and r.sent_at is None for r in reminders)
    assert not any(t["text"].startswith("Nhắc lịch") for t in gateway.delivered)


async def test_a_channel_without_a_transport_leaves_its_messages_pending(
    network: Network,
    booked: tuple[str, datetime],
    client: TestClient[Any, Any],
    settings: Settings,
    http: aiohttp.ClientSession,
    clock: ShiftedClock,
    mailbox: Mailbox,
) -> None:
    appointment_id, _ = booked
    email_only = settings.with_overrides(sms=SmsSettings())
    assert await make_dispatcher(client, email_only, http, clock).dispatch_once() == 1
    assert len(mailbox.messages) == 1
    row = by_topic(await messages_of(network, appointment_id), "appointment.booked", "sms")
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)


async def test_the_lease_of_a_crashed_sender_runs_out_and_the_message_is_sent_once(
    network: Network,
    booked: tuple[str, datetime],
    client: TestClient[Any, Any],
    dispatcher: OutboxDispatcher,
    clock: ShiftedClock,
    mailbox: Mailbox,
    gateway: SmsGateway,
) -> None:
    # A node claims the confirmation, then dies before sending it.
    now = utcnow()
    async with UnitOfWork(client.app[keys.SESSIONMAKER]) as uow:
        claims = await OutboxRepository(uow.session).claim(
            dispatcher.channels, now, now + timedelta(seconds=LEASE), limit=10
        )
        await uow.commit()
    assert len(claims) == 2

    assert await dispatcher.dispatch_once() == 0  # the claim still holds
    clock.advance(timedelta(seconds=LEASE + 1))
    assert await dispatcher.dispatch_once() == 2
    assert await dispatcher.dispatch_once() == 0
    assert len(mailbox.messages) == 1
    assert len(gateway.delivered) == 1
    # The dead node's claim can no longer record anything over the newer outcome.
    async with UnitOfWork(client.app[keys.SESSIONMAKER]) as uow:
        assert not await OutboxRepository(uow.session).record_failure(claims[0], "late", None)
        await uow.commit()
    rows = await messages_of(network, booked[0])
    assert next(r for r in rows if r.id == claims[0].message.id).status == "sent"


async def test_several_dispatchers_at_once_send_each_message_exactly_once(
    network: Network,
    client: TestClient[Any, Any],
    settings: Settings,
    http: aiohttp.ClientSession,
    clock: ShiftedClock,
    mailbox: Mailbox,
    gateway: SmsGateway,
) -> None:
    await set_contact(network)
    pid = await open_every_day(network, "specialist")
    for days in (2, 3, 4, 5):
        await book_ahead(network, pid, timedelta(days=days))
    small_batches = settings.with_overrides(
        outbox=OutboxSettings(enabled=False, batch_size=2, lease_seconds=LEASE)
    )
    nodes = [make_dispatcher(client, small_batches, http, clock) for _ in range(4)]

    async def drain(node: OutboxDispatcher) -> int:
        tried = 0
        while n := await node.dispatch_once():
            tried += n
        return tried

    tried = await asyncio.gather(*(drain(node) for node in nodes))
    assert sum(tried) == 8
    assert sorted(mailbox.ids()) == sorted(set(mailbox.ids()))
    assert len(mailbox.messages) == 4
    assert sorted(gateway.ids()) == sorted(set(gateway.ids()))
    assert len(gateway.delivered) == 4


async def test_the_app_runs_its_dispatcher_and_stops_it_at_shutdown(
    aiohttp_client: Any, settings: Settings, mailbox: Mailbox, gateway: SmsGateway
) -> None:
    running = settings.with_overrides(
        outbox=OutboxSettings(enabled=True, poll_seconds=0.05, lease_seconds=LEASE)
    )
    app_client: TestClient[Any, Any] = await aiohttp_client(create_app(running))
    net = await build_network(app_client, running)
    await set_contact(net)
    pid = await open_every_day(net, "specialist")
    appointment_id, _ = await book_ahead(net, pid, timedelta(days=2))

    async with asyncio.timeout(10):
        while True:  # the app's own dispatcher works in the background: poll its records
            if await confirmation_statuses(net, appointment_id) == {MessageStatus.SENT.value}:
                break
            await asyncio.sleep(0.02)
    assert "telehealth_outbox_deliveries_total" in await (await app_client.get("/metrics")).text()

    await app_client.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "outbox-dispatcher"]
    assert len(mailbox.messages) == 1
    # The self-registered patient's account notice (SMS only: no e-mail given then), and
    # the booking's confirmation.
    assert len(gateway.delivered) == 2
    assert sum("Tài khoản patient_self" in d["text"] for d in gateway.delivered) == 1
