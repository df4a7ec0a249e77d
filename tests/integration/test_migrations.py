"""Alembic is the only way the schema changes: it builds an empty database, and the
models and migrations agree (autogenerate finds nothing to add)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from telehealth.db import migrate
from telehealth.db.base import import_all_models
from telehealth.db.engine import build_engine
from tests.support import databases


@pytest.fixture
async def empty_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database with nothing in it, on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server = databases.postgres_url()
    assert server is not None
    name = f"telehealth_empty_{tmp_path.name[-8:].lower()}"
    admin = build_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    yield url
    await databases.drop_postgres_database(server, url)


def _diff(conn: Connection, /) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, import_all_models()))


def _tables(conn: Connection, /) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_upgrade_builds_an_empty_database_that_matches_the_models(
    empty_database: str,
) -> None:
    assert await migrate.pending(empty_database)
    await asyncio.to_thread(migrate.upgrade, empty_database)
    assert not await migrate.pending(empty_database)
    engine = build_engine(empty_database)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            tables = await conn.run_sync(_tables)
            count = (await conn.execute(text("SELECT count(*) FROM specialties"))).scalar()
    finally:
        await engine.dispose()
    assert set(import_all_models().tables) <= tables
    assert count is not None
    assert count >= 3


async def test_downgrade_to_base_and_back(empty_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database)
    await asyncio.to_thread(migrate.downgrade, empty_database, "base")
    assert await migrate.current_revision(empty_database) is None
    await asyncio.to_thread(migrate.upgrade, empty_database)
    assert not await migrate.pending(empty_database)


async def test_patient_search_backfill_folds_names_written_before_it(
    empty_database: str,
) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database, "0008")
    engine = build_engine(empty_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO patients (id, full_name, created_at, updated_at) VALUES "
                    "('p1', 'Nguyễn Văn Bình', '2026-01-01', '2026-01-01'), "
                    "('p2', 'Đỗ Thị Nở', '2026-01-01', '2026-01-01')"
                )
            )
        await asyncio.to_thread(migrate.upgrade, empty_database)
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id, search_name FROM patients ORDER BY id"))
            folded = [tuple(row) for row in rows]
    finally:
        await engine.dispose()
    assert folded == [("p1", "nguyen van binh"), ("p2", "do thi no")]
