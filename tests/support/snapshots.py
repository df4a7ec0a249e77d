"""The test network built once per run and loaded into each test's fresh database.

Building the network through the services costs every test that uses it a few hundred
milliseconds (users, facilities, patients, a registration, each a synced transaction). It
is built once per backend into a database of its own; its rows are then copied, table by
table, into the empty migrated database a test already runs on. The copy is plain rows:
the app under test starts on an empty database, exactly as before, and sees the network
appear as if another node had written it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from telehealth.app import create_app
from telehealth.config import Settings
from telehealth.db.engine import build_engine
from tests.support.databases import KEEP_TABLES
from tests.support.network import Network, build_network

SNAPSHOT_SCHEMA = "network_snapshot"
# Not part of the network: the audit sequencer's lease belongs to the app that built it.
NOT_COPIED = KEEP_TABLES | {"audit_sequencer_lease"}


@dataclass(frozen=True)
class NetworkSnapshot:
    """Where the built network's rows are kept, and the ids the tests look up."""

    backend: str
    source: str  # the SQLite file, or the PostgreSQL URL holding SNAPSHOT_SCHEMA
    facilities: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)

    def network(self, client: TestClient[Any, Any]) -> Network:
        """The test's view of the network: the same ids; tokens are fetched per test (a
        session made while building would be idle for longer than the idle timeout)."""
        return Network(
            client,
            facilities=dict(self.facilities),
            users=dict(self.users),
            patients=dict(self.patients),
        )


def build_snapshot(backend: str, database_url: str, settings: Settings) -> NetworkSnapshot:
    """Build the network once through a real app on `database_url` (an empty, migrated
    database of its own) and keep its rows there."""

    async def build() -> Network:
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        try:
            return await build_network(client, settings)
        finally:
            await client.close()

    net = asyncio.run(build())
    if backend == "postgresql":
        asyncio.run(_keep_postgres_rows(database_url))
    source = database_url.split("///", 1)[1] if backend == "sqlite" else database_url
    return NetworkSnapshot(backend, source, net.facilities, net.users, net.patients)


async def load_snapshot(snapshot: NetworkSnapshot, database_url: str) -> None:
    """Copy the network's rows into the test's database (empty but for reference data)."""
    if snapshot.backend == "sqlite":
        await asyncio.to_thread(_load_sqlite, snapshot.source, database_url.split("///", 1)[1])
    else:
        await _load_postgres(database_url)


def _load_sqlite(source: str, target: str) -> None:
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("ATTACH DATABASE ? AS snap", (source,))
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM snap.sqlite_master WHERE type = 'table'")
            if row[0] not in NOT_COPIED and not row[0].startswith("sqlite_")
        ]
        conn.execute("BEGIN IMMEDIATE")
        for table in tables:
            conn.execute(f'INSERT INTO main."{table}" SELECT * FROM snap."{table}"')  # noqa: S608 (table names read from the snapshot's own catalogue)
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE snap")
    finally:
        conn.close()


async def _postgres_tables(conn: Any) -> list[str]:
    rows = await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    return [r[0] for r in rows if r[0] not in NOT_COPIED]


async def _keep_postgres_rows(url: str) -> None:
    engine = build_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {SNAPSHOT_SCHEMA} CASCADE"))
            await conn.execute(text(f"CREATE SCHEMA {SNAPSHOT_SCHEMA}"))
            for table in await _postgres_tables(conn):
                await conn.execute(
                    text(f'CREATE TABLE {SNAPSHOT_SCHEMA}."{table}" AS TABLE public."{table}"')
                )
    finally:
        await engine.dispose()


async def _load_postgres(url: str) -> None:
    engine = build_engine(url)
    try:
        async with engine.begin() as conn:
            # Rows are copied in any order: foreign keys are checked by triggers, which a
            # replica session does not fire (the test database's owner is a superuser).
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in await _postgres_tables(conn):
                # Names from pg_tables, not from input.
                copy = f'INSERT INTO public."{table}" SELECT * FROM {SNAPSHOT_SCHEMA}."{table}"'  # noqa: S608
                await conn.execute(text(copy))
    finally:
        await engine.dispose()
