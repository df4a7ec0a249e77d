"""Connection pools: on SQLite a read-only unit of work runs on a reader connection of its
own and never waits for the single writer; on PostgreSQL the pool recovers by itself
from connections the server dropped (a restart), without a ping per checkout."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from telehealth import keys
from telehealth.accounts.models import Facility
from telehealth.db.engine import ReadOnlyViolation, build_engine
from telehealth.db.uow import UnitOfWork
from tests.support.network import Network


async def facilities(network: Network) -> int:
    """How many facilities a read-only unit of work of the app sees."""
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER], read_only=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Facility)) or 0)


async def test_a_read_does_not_wait_for_an_open_write_transaction(network: Network) -> None:
    """While a write transaction holds the writer (on SQLite, the one write connection
    and the database's write lock), a read runs and sees the last committed state."""
    sessionmaker = network.client.app[keys.SESSIONMAKER]
    before = await facilities(network)
    async with UnitOfWork(sessionmaker) as writer:
        writer.session.add(
            Facility(code="W1", name="Trạm y tế xã Mường Tè", level="commune", province="Lai Châu")
        )
        await writer.flush()
        # Without a reader pool this read would queue for the writer and time out.
        assert await asyncio.wait_for(facilities(network), 20) == before
        await writer.commit()
    assert await facilities(network) == before + 1


async def test_a_read_only_unit_of_work_still_refuses_writes(network: Network) -> None:
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER], read_only=True) as uow:
        with pytest.raises(ReadOnlyViolation):
            await uow.session.execute(text("DELETE FROM facilities"))


async def test_requests_recover_after_postgresql_drops_every_connection(
    backend: str, network: Network, database_url: str
) -> None:
    """Every server connection of the app is terminated (what a PostgreSQL restart does to
    them): at most the request holding a dead connection fails; the next ones succeed."""
    if backend == "sqlite":
        pytest.skip("SQLite has no server to drop connections")
    doctor, patient = await network.headers("doctor_a"), network.patients["patient_a"]

    async def read() -> int:
        resp = await network.client.get(f"/api/v1/patients/{patient}", headers=doctor)
        return resp.status

    assert await read() == 200
    admin = build_engine(database_url)
    try:
        async with admin.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await admin.dispose()
    assert killed

    statuses = [await read() for _ in range(5)]
    assert statuses.count(200) >= 4, statuses
    assert statuses[1:] == [200] * 4, statuses
