"""Test databases: a migrated SQLite template copied per test, and a PostgreSQL database
migrated once per run and truncated between tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from telehealth.db import migrate
from telehealth.db.engine import build_engine

PG_ENV = "TELEHEALTH_TEST_DATABASE_URL"
# Reference data loaded by migrations survives truncation.
KEEP_TABLES = {"alembic_version", "specialties"}


def postgres_url() -> str | None:
    """The PostgreSQL server given for tests, with the async driver."""
    raw = os.environ.get(PG_ENV)
    if not raw:
        return None
    url = make_url(raw)
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def sqlite_template(directory: Path) -> Path:
    """A migrated SQLite file to copy for each test."""
    path = directory / "template.sqlite3"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    """A fresh database for one test (copying beats migrating every time)."""
    target = directory / "telehealth.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


async def create_postgres_database(server_url: str) -> str:
    """A new, migrated database on the server; returns its URL."""
    name = f"telehealth_test_{uuid.uuid4().hex[:10]}"
    admin = build_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(migrate.upgrade, url)
    return url


async def drop_postgres_database(server_url: str, url: str) -> None:
    """Remove a database made by `create_postgres_database`."""
    name = make_url(url).database
    admin = build_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def truncate_postgres(url: str) -> None:
    """Empty every table but the reference data."""
    engine = build_engine(url)
    try:
        async with engine.begin() as conn:
            rows = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            tables = [r[0] for r in rows if r[0] not in KEEP_TABLES]
            if tables:
                quoted = ", ".join(f'"{t}"' for t in tables)
                await conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
