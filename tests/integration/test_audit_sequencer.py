"""The audit sequencer: requests leave their rows unchained, the app's sequencer chains
them in the background, one node at a time, each row exactly once; `audit verify` says
which rows waited longer than the bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from telehealth import keys
from telehealth.auth.audit import AuditContext, AuditLog, verify_chain
from telehealth.auth.models import AuditEvent, AuditSequencerLease
from telehealth.auth.sequencer import LEASE_NAME, AuditSequencer
from telehealth.config import AuditSettings
from telehealth.db.base import utcnow
from telehealth.db.engine import build_engine, build_sessionmaker
from telehealth.db.uow import UnitOfWork
from tests.support.audit import TEST_NODE, chain_now
from tests.support.cli import cli_env, run_cli
from tests.support.network import Network


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A connection pool of the test's own, beside the app's."""
    engine = build_engine(database_url)
    yield engine
    await engine.dispose()


async def unchained(engine: AsyncEngine) -> int:
    """How many rows wait for their place in the chain."""
    async with AsyncSession(engine) as session:
        count = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None))
        )
        return int(count or 0)


async def write_events(engine: AsyncEngine, count: int, action: str = "test.event") -> None:
    """`count` audit rows, each committed in its own transaction, as requests write them."""
    sessionmaker = build_sessionmaker(engine)
    for n in range(count):
        async with UnitOfWork(sessionmaker) as uow:
            await AuditLog(uow.session, AuditContext()).record(action, "test", None, {"n": n})
            await uow.commit()


async def expire_lease(engine: AsyncEngine) -> None:
    """Make the sequencer lease run out now, as if its holder had stopped renewing it."""
    async with engine.begin() as conn:
        await conn.execute(
            update(AuditSequencerLease)
            .where(AuditSequencerLease.name == LEASE_NAME)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def until_chained(engine: AsyncEngine, seconds: float = 60) -> None:
    """Wait (polling) until no row is left unchained; fail after `seconds`."""
    async with asyncio.timeout(seconds):
        for _ in iter(int, 1):
            if not await unchained(engine):
                return
            await asyncio.sleep(0.1)


async def chain_positions(engine: AsyncEngine) -> list[int]:
    """Every chained row's place, in order."""
    async with AsyncSession(engine) as session:
        rows = await session.scalars(
            select(AuditEvent.seq).where(AuditEvent.seq.is_not(None)).order_by(AuditEvent.seq)
        )
        return [int(seq or 0) for seq in rows.all()]


async def test_the_app_s_sequencer_chains_concurrent_requests_rows_each_once(
    network: Network, engine: AsyncEngine
) -> None:
    """Forty patient reads at once: every one leaves a row, and the app's own sequencer
    (not the test) gives each a place, with no gap and no place given twice."""
    doctor, patient = await network.headers("doctor_a"), network.patients["patient_a"]

    async def read() -> int:
        resp = await network.client.get(f"/api/v1/patients/{patient}", headers=doctor)
        return resp.status

    assert await asyncio.gather(*(read() for _ in range(40))) == [200] * 40
    await until_chained(engine)

    positions = await chain_positions(engine)
    assert positions == list(range(1, len(positions) + 1))
    async with AsyncSession(engine) as session:
        report = await verify_chain(session)
        reads = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "patient.read", AuditEvent.object_id == patient)
        )
    assert report.ok, report.problems
    assert (report.checked, report.unchained, reads) == (len(positions), 0, 40)


async def test_a_request_does_not_wait_for_the_chain(network: Network, engine: AsyncEngine) -> None:
    """The row a request wrote is there at once, before the sequencer gave it a place."""
    doctor = await network.headers("doctor_a")
    await network.client.app[keys.AUDIT_SEQUENCER].stop()
    await chain_now(engine)
    resp = await network.client.get(
        f"/api/v1/patients/{network.patients['patient_a']}", headers=doctor
    )
    assert resp.status == 200
    async with AsyncSession(engine) as session:
        row = await session.scalar(
            select(AuditEvent).where(AuditEvent.request_id == resp.headers["X-Request-ID"])
        )
    assert row is not None
    assert (row.seq, row.prev_hash, row.hash) == (None, None, None)
    assert await chain_now(engine) == 1
    assert await unchained(engine) == 0


async def test_only_one_node_chains_while_its_lease_runs(
    network: Network, engine: AsyncEngine
) -> None:
    await network.client.app[keys.AUDIT_SEQUENCER].stop()
    await expire_lease(engine)  # the stopped app's
    await write_events(engine, 5)
    sessionmaker = build_sessionmaker(engine)
    settings = AuditSettings(lease_seconds=3600)
    first = AuditSequencer(sessionmaker, settings, "node-a")
    second = AuditSequencer(sessionmaker, settings, "node-b")

    assert await first.drain() == 5
    await write_events(engine, 3)
    assert await second.drain() == 0  # node-a's lease still runs
    assert await unchained(engine) == 3
    assert await first.drain() == 3

    # node-a stops renewing (a crash): once its lease has run out, node-b takes over.
    await expire_lease(engine)
    await write_events(engine, 2)
    third = AuditSequencer(sessionmaker, settings, "node-b")
    assert await third.drain() == 2
    async with AsyncSession(engine) as session:
        lease = await session.get(AuditSequencerLease, LEASE_NAME)
        report = await verify_chain(session)
    assert lease is not None
    assert lease.holder == "node-b"
    assert report.ok, report.problems


async def test_two_chainers_at_once_never_give_a_place_twice(
    network: Network, engine: AsyncEngine
) -> None:
    """Leases aside (each believes it holds one), the chaining transactions exclude each
    other: every row is chained exactly once and the chain verifies."""
    await network.client.app[keys.AUDIT_SEQUENCER].stop()
    await chain_now(engine)
    await write_events(engine, 60)
    small = AuditSettings(batch_size=7)
    sequencers = [AuditSequencer(build_sessionmaker(engine), small, TEST_NODE) for _ in range(4)]

    chained = await asyncio.gather(*(s.drain() for s in sequencers))

    assert sum(chained) == 60
    positions = await chain_positions(engine)
    assert positions == list(range(1, len(positions) + 1))
    async with AsyncSession(engine) as session:
        report = await verify_chain(session)
    assert report.ok, report.problems


async def test_a_row_committed_after_a_newer_one_is_chained_after_it(
    backend: str, network: Network, engine: AsyncEngine
) -> None:
    """A transaction that wrote its row first but commits last: the sequencer chains only
    what is visible, so that row gets a later place, none is skipped and verify passes."""
    if backend == "sqlite":
        pytest.skip("SQLite has one writer: no other transaction commits while one is open")
    await network.client.app[keys.AUDIT_SEQUENCER].stop()
    await chain_now(engine)
    sessionmaker = build_sessionmaker(engine)
    async with UnitOfWork(sessionmaker) as slow:
        await AuditLog(slow.session, AuditContext()).record("test.slow", "test", None)
        await slow.flush()  # inserted, not committed: the oldest `at` of all
        await write_events(engine, 3, "test.fast")
        assert await chain_now(engine) == 3
        await slow.commit()
    assert await chain_now(engine) == 1

    async with AsyncSession(engine) as session:
        actions = (
            await session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq.desc()))
        ).all()[:4]
        report = await verify_chain(session)
    assert actions == ["test.slow", "test.fast", "test.fast", "test.fast"]
    assert report.ok, report.problems


async def test_verify_names_rows_left_unchained_longer_than_the_bound(
    network: Network, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await network.client.app[keys.AUDIT_SEQUENCER].stop()
    await chain_now(engine)
    await write_events(engine, 1, "test.fresh")
    # The node id of the stopped app: its lease does not keep `audit chain` waiting.
    env = {**cli_env(tmp_path / "cli", database_url), "TELEHEALTH_NODE_ID": TEST_NODE}

    fresh = await run_cli({**env, "TELEHEALTH_AUDIT_CHAIN_SECONDS": "3600"}, "audit", "verify")
    assert fresh.code == 0, fresh.output
    assert "chain intact" in fresh.output
    assert "not chained yet: 1 events" in fresh.output

    async with engine.begin() as conn:
        await conn.execute(
            update(AuditEvent)
            .where(AuditEvent.seq.is_(None))
            .values(at=utcnow() - timedelta(seconds=30))
        )
    late = await run_cli({**env, "TELEHEALTH_AUDIT_CHAIN_SECONDS": "5"}, "audit", "verify")
    assert late.code == 1, late.output
    assert "1 events not chained within 5 s" in late.output

    chained = await run_cli(env, "audit", "chain")
    assert chained.code == 0, chained.output
    assert "1 events chained" in chained.output
    assert await unchained(engine) == 0
    after = await run_cli(env, "audit", "verify")
    assert after.code == 0, after.output
    assert "not chained" not in after.output
