"""The audit log: every change and every patient read leaves one row, written in the same
transaction and chained by the sequencer (driven to completion here before reading
positions), and `telehealth audit verify` names any row edited or deleted later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from telehealth.auth.audit import event_digest
from telehealth.auth.models import AuditEvent
from telehealth.db.engine import build_engine
from tests.support.audit import chain_now
from tests.support.cli import cli_env, run_cli
from tests.support.network import Network


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A connection pool of the test's own, beside the app's, for reading and tampering."""
    engine = build_engine(database_url)
    yield engine
    await engine.dispose()


async def last_seq(engine: AsyncEngine) -> int:
    """The newest position in the chain (0 when empty), once everything committed is chained."""
    await chain_now(engine)
    async with AsyncSession(engine) as session:
        return int(await session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0)


async def events_after(engine: AsyncEngine, seq: int) -> list[AuditEvent]:
    """Rows appended after position `seq`, in chain order, once everything is chained."""
    await chain_now(engine)
    async with AsyncSession(engine) as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)
        )
        return list(rows.all())


async def one_event(engine: AsyncEngine, since: int, resp: ClientResponse) -> AuditEvent:
    """The single row a successful request appended, tied to it by the request id."""
    assert resp.status < 300, await resp.text()
    events = await events_after(engine, since)
    assert len(events) == 1, [e.action for e in events]
    assert events[0].seq == since + 1
    assert events[0].request_id == resp.headers["X-Request-ID"]
    return events[0]


async def test_admin_changes_write_one_event_each_with_the_admin_as_actor(
    network: Network, engine: AsyncEngine
) -> None:
    client, admin = network.client, await network.headers("admin")
    admin_id = network.users["admin"]

    mark = await last_seq(engine)
    resp = await client.post(
        "/api/v1/facilities",
        json={"code": "D3", "name": "Bệnh viện huyện Phong Thổ", "level": "district"}
        | {"province": "Lai Châu"},
        headers=admin,
    )
    facility = await one_event(engine, mark, resp)
    facility_id = (await resp.json())["id"]
    assert (facility.action, facility.actor_id) == ("facility.create", admin_id)
    assert (facility.object_type, facility.object_id) == ("facility", facility_id)
    assert facility.details == {"code": "D3"}

    mark = await last_seq(engine)
    resp = await client.post(
        "/api/v1/users",
        json={
            "username": "bs.phong",
            "password": "mat-khau-that-dai",
            "full_name": "Sùng A Phong",
            "roles": ["doctor"],
            "facility_id": facility_id,
        },
        headers=admin,
    )
    created = await one_event(engine, mark, resp)
    user_id = (await resp.json())["id"]
    assert (created.action, created.actor_id, created.object_id) == (
        "user.create",
        admin_id,
        user_id,
    )
    assert created.details == {"roles": ["doctor"], "facility_id": facility_id}

    mark = await last_seq(engine)
    resp = await client.patch(
        f"/api/v1/users/{user_id}", json={"full_name": "Sùng A Phòng"}, headers=admin
    )
    updated = await one_event(engine, mark, resp)
    assert (updated.action, updated.actor_id, updated.object_id) == (
        "user.update",
        admin_id,
        user_id,
    )
    assert updated.details == {"fields": ["full_name"]}
    # Each row links to the one before it.
    assert updated.prev_hash == created.hash


async def test_patient_create_read_and_list_are_audited_with_the_doctor_as_actor(
    network: Network, engine: AsyncEngine
) -> None:
    client, doctor = network.client, await network.headers("doctor_a")
    doctor_id = network.users["doctor_a"]

    mark = await last_seq(engine)
    resp = await client.post(
        "/api/v1/patients",
        json={"full_name": "Lò Thị Én", "date_of_birth": "1949-02-11", "sex": "female"},
        headers=doctor,
    )
    created = await one_event(engine, mark, resp)
    patient_id = (await resp.json())["id"]
    assert (created.action, created.actor_id, created.object_id) == (
        "patient.create",
        doctor_id,
        patient_id,
    )
    assert created.details == {"home_facility_id": network.facilities["D1"]}

    mark = await last_seq(engine)
    resp = await client.get(f"/api/v1/patients/{patient_id}", headers=doctor)
    read = await one_event(engine, mark, resp)
    assert (read.action, read.actor_id, read.object_type, read.object_id) == (
        "patient.read",
        doctor_id,
        "patient",
        patient_id,
    )

    mark = await last_seq(engine)
    resp = await client.get("/api/v1/patients", headers=doctor)
    listed = await one_event(engine, mark, resp)
    ids = [p["id"] for p in (await resp.json())["items"]]
    assert {patient_id, network.patients["patient_a"]} <= set(ids)
    assert (listed.action, listed.actor_id) == ("patient.list", doctor_id)
    assert listed.details == {"ids": ids, "facility_id": network.facilities["D1"]}


async def test_a_patient_reading_their_own_record_is_audited(
    network: Network, engine: AsyncEngine
) -> None:
    patient_id = network.patients["patient_self"]
    headers = await network.headers("patient_self")

    mark = await last_seq(engine)
    resp = await network.client.get(f"/api/v1/patients/{patient_id}", headers=headers)

    read = await one_event(engine, mark, resp)
    assert (read.action, read.actor_id, read.object_id) == (
        "patient.read",
        network.users["patient_self"],
        patient_id,
    )


@pytest.mark.parametrize(
    ("method", "path", "who", "body", "status"),
    [
        ("POST", "/api/v1/facilities", "admin", "duplicate_facility", 409),
        ("POST", "/api/v1/users", "admin", "duplicate_user", 409),
        ("POST", "/api/v1/facilities", "doctor_a", "new_facility", 403),
        ("POST", "/api/v1/facilities", "admin", "bad_timezone", 400),
    ],
    # A refused read of another facility's patient is audited: see the test below.
    ids=["duplicate-facility", "duplicate-user", "not-admin", "invalid"],
)
async def test_a_refused_request_leaves_no_audit_row_and_no_gap(
    network: Network,
    engine: AsyncEngine,
    method: str,
    path: str,
    who: str,
    body: str | None,
    status: int,
) -> None:
    bodies: dict[str, dict[str, Any]] = {
        "new_facility": {"code": "D9", "name": "X", "level": "district", "province": "Lai Châu"},
        "duplicate_facility": {
            "code": "D1",
            "name": "Bệnh viện huyện khác",
            "level": "district",
            "province": "Điện Biên",
        },
        "duplicate_user": {
            "username": "doctor_a",
            "password": "mat-khau-that-dai",
            "full_name": "Trùng Tên",
            "roles": ["doctor"],
            "facility_id": network.facilities["D2"],
        },
        "bad_timezone": {"code": "D8", "name": "X", "level": "district", "province": "Sơn La"}
        | {"timezone": "Mars/Olympus"},
    }
    caller, doctor = await network.headers(who), await network.headers("doctor_a")
    mark = await last_seq(engine)

    resp = await network.client.request(
        method,
        path.format(patient_b=network.patients["patient_b"]),
        json=bodies[body] if body else None,
        headers=caller,
    )

    assert resp.status == status, await resp.text()
    assert await events_after(engine, mark) == []
    # The rolled-back row did not use up its place: the next event takes seq mark + 1.
    ok = await network.client.get(
        f"/api/v1/patients/{network.patients['patient_a']}", headers=doctor
    )
    assert (await one_event(engine, mark, ok)).action == "patient.read"


async def test_a_refused_patient_read_leaves_one_refusal_row(
    network: Network, engine: AsyncEngine
) -> None:
    doctor = await network.headers("doctor_a")
    mark = await last_seq(engine)
    resp = await network.client.get(
        f"/api/v1/patients/{network.patients['patient_b']}", headers=doctor
    )
    assert resp.status == 404
    refused = await events_after(engine, mark)
    assert [(e.seq, e.action, e.actor_id, e.object_id) for e in refused] == [
        (mark + 1, "patient.read_refused", network.users["doctor_a"], network.patients["patient_b"])
    ]


async def test_failed_sign_ins_are_audited_without_an_actor(
    network: Network, engine: AsyncEngine
) -> None:
    mark = await last_seq(engine)
    for username in ("doctor_a", "khong.ai"):
        resp = await network.client.post(
            "/api/v1/auth/token", json={"username": username, "password": "sai mat khau"}
        )
        assert resp.status == 401

    failed = await events_after(engine, mark)
    assert [(e.action, e.actor_id, e.object_id, e.details) for e in failed] == [
        ("auth.login_failed", None, network.users["doctor_a"], {"username": "doctor_a"}),
        ("auth.login_failed", None, None, {"username": "khong.ai"}),
    ]
    assert all(e.client_address == "127.0.0.1" for e in failed)


async def test_a_sign_in_is_audited_with_the_user_as_actor(
    network: Network, engine: AsyncEngine
) -> None:
    mark = await last_seq(engine)
    await network.headers("trainee")

    [login] = await events_after(engine, mark)
    assert (login.action, login.actor_id, login.object_type) == (
        "auth.login",
        network.users["trainee"],
        "auth_session",
    )


async def verify(database_url: str, tmp_path: Path) -> tuple[int, str]:
    """Run `telehealth audit verify` on the database, everything committed chained first;
    exit code and everything printed."""
    engine = build_engine(database_url)
    try:
        await chain_now(engine)
    finally:
        await engine.dispose()
    result = await run_cli(cli_env(tmp_path / "cli", database_url), "audit", "verify")
    assert "Traceback" not in result.stderr, result.stderr
    return result.code, result.output


async def middle_event(engine: AsyncEngine) -> AuditEvent:
    """The facility.create row of D1: neither the first nor the last of the chain."""
    await chain_now(engine)
    async with AsyncSession(engine) as session:
        event = await session.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == "facility.create")
            .order_by(AuditEvent.seq)
            .offset(1)
            .limit(1)
        )
    assert event is not None
    assert 1 < event.seq < await last_seq(engine)
    return event


async def test_verify_says_an_untouched_chain_is_intact(
    network: Network, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await network.client.get(
        f"/api/v1/patients/{network.patients['patient_a']}",
        headers=await network.headers("doctor_a"),
    )

    code, output = await verify(database_url, tmp_path)

    assert code == 0, output
    assert f"{await last_seq(engine)} events checked, chain intact" in output


EDITS = [
    ("details", '{"code": "D7"}'),
    ("action", "facility.delete"),
    ("actor_id", "00000000-0000-4000-8000-000000000000"),
    ("object_id", "00000000-0000-4000-8000-000000000001"),
    ("client_address", "10.0.0.66"),
]


async def test_verify_names_every_row_edited_in_the_database(
    network: Network, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    # One column edited on each of several rows in the middle of the chain.
    targets = (await events_after(engine, 1))[: len(EDITS)]
    assert targets[-1].seq < await last_seq(engine)
    async with engine.begin() as conn:
        for (column, value), target in zip(EDITS, targets, strict=True):
            changed = await conn.execute(
                # `column` comes from EDITS above, never from input.
                text(f"UPDATE audit_events SET {column} = :value WHERE seq = :seq"),  # noqa: S608
                {"value": value, "seq": target.seq},
            )
            assert changed.rowcount == 1

    code, output = await verify(database_url, tmp_path)

    assert code == 1, output
    for target in targets:
        assert f"seq {target.seq} (id {target.id}, " in output
    assert output.count("content does not match its hash (edited)") == len(EDITS)
    assert f"BROKEN ({len(EDITS)} problems)" in output


async def test_verify_names_the_next_row_when_an_edited_row_was_rehashed(
    network: Network, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    target = await middle_event(engine)
    async with AsyncSession(engine) as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.seq == target.seq))
        assert event is not None
        event.details = {"code": "D7"}
        event.hash = event_digest(event)
        await session.commit()
        following = await session.scalar(
            select(AuditEvent).where(AuditEvent.seq == (target.seq or 0) + 1)
        )
        assert following is not None

    code, output = await verify(database_url, tmp_path)

    assert code == 1, output
    assert f"seq {following.seq} (id {following.id}): does not link" in output


async def test_verify_names_a_deleted_row(
    network: Network, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    target = await middle_event(engine)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": target.seq})

    code, output = await verify(database_url, tmp_path)

    assert code == 1, output
    assert f"seq {target.seq}: missing (deleted) before seq {target.seq + 1}" in output
    assert f"seq {target.seq + 1} (id " in output


async def test_a_client_chosen_request_id_is_kept_apart_from_the_servers_own(
    network: Network, engine: AsyncEngine
) -> None:
    """Two users send one forged X-Request-ID: each read is keyed by an id the server made,
    and the forged one is stored beside it, never as the key."""
    forged = "forged-request-id-0001"
    ids = []
    for who in ("doctor_a", "doctor_b"):
        headers = {**await network.headers(who), "X-Request-ID": forged}
        patient = network.patients["patient_a" if who == "doctor_a" else "patient_b"]
        mark = await last_seq(engine)
        resp = await network.client.get(f"/api/v1/patients/{patient}", headers=headers)
        event = await one_event(engine, mark, resp)
        assert event.request_id != forged
        assert event.client_request_id == forged
        assert resp.headers["X-Client-Request-ID"] == forged
        ids.append(event.request_id)
    assert ids[0] != ids[1]
    assert all(e.hash == event_digest(e) for e in await events_after(engine, 0))
