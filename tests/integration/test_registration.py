"""Self-registration reveals nothing about existing accounts and is throttled per address."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from telehealth import keys
from telehealth.db.uow import UnitOfWork
from telehealth.outbox.models import OutboxMessage
from tests.support.network import PASSWORD, Network

NEW_PASSWORD = "mưa rào trên đồi chè xanh"


def _body(username: str, phone: str = "0987654321") -> dict[str, Any]:
    return {
        "username": username,
        "password": NEW_PASSWORD,
        "full_name": "Vì Văn Tám",
        "phone": phone,
    }


async def _register(network: Network, body: dict[str, Any]) -> Any:
    return await network.client.post("/api/v1/auth/register", json=body)


async def _messages(network: Network) -> list[tuple[str, str, str]]:
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER], read_only=True) as uow:
        rows = (await uow.session.scalars(select(OutboxMessage))).all()
        return [(m.topic, m.recipient, m.body) for m in rows if m.topic.startswith("registration")]


async def test_a_taken_username_gets_the_same_answer_as_a_free_one(network: Network) -> None:
    for staff in ("doctor_a", "admin"):
        taken = await _register(network, _body(staff, "0987654321"))
        free = await _register(network, _body(f"new.{staff}", "0987654322"))
        assert taken.status == free.status == 202
        assert taken.content_type == free.content_type
        assert await taken.json() == await free.json()
        assert set(taken.headers) - {"X-Request-ID", "Date"} == set(free.headers) - {
            "X-Request-ID",
            "Date",
        }


async def test_the_registrant_is_told_the_outcome_out_of_band(network: Network) -> None:
    await _register(network, _body("doctor_a", "0987654321"))
    await _register(network, _body("tam.vi", "0987654322"))
    messages = await _messages(network)
    assert ("registration.taken", "0987654321") in {(t, r) for t, r, _ in messages}
    assert ("registration.created", "0987654322") in {(t, r) for t, r, _ in messages}
    # The owner of the taken username keeps their account and password.
    token = await network.client.post(
        "/api/v1/auth/token", json={"username": "doctor_a", "password": PASSWORD}
    )
    assert token.status == 200
    created = await network.client.post(
        "/api/v1/auth/token", json={"username": "tam.vi", "password": NEW_PASSWORD}
    )
    assert created.status == 200


async def test_registration_is_throttled_per_address(network: Network) -> None:
    # The network fixture registered one patient from this address already.
    statuses = [(await _register(network, _body(f"flood{i}"))).status for i in range(10)]
    assert statuses == [202] * 9 + [429]
    assert int((await _register(network, _body("flood-x"))).headers["Retry-After"]) > 0


async def test_an_address_locked_out_of_sign_in_may_not_register(network: Network) -> None:
    for i in range(20):
        await network.client.post(
            "/api/v1/auth/token", json={"username": f"guess{i}", "password": "wrong"}
        )
    assert (await _register(network, _body("tam.vi"))).status == 429
