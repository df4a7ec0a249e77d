"""Engine construction and the app's database lifecycle (opened and closed in cleanup_ctx)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy import Connection, Engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from telehealth import keys
from telehealth.config import DatabasePool, Settings

# Execution option that marks a connection as a reader for the length of its transaction.
READ_ONLY = "telehealth_read_only"
# What a read-only unit of work asks of its connection: our own mark (deferred BEGIN on
# SQLite, statements other than SELECT refused) and, on PostgreSQL, a READ ONLY transaction
# (asyncpg adds it to its BEGIN, so it costs no round trip; reset when pooled again).
READ_ONLY_OPTIONS = {READ_ONLY: True, "postgresql_readonly": True}


class ReadOnlyViolation(RuntimeError):
    """A statement that is not a SELECT was sent inside a read-only transaction."""


def build_engine(database_url: str, pool: DatabasePool | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys, full sync and immediate transactions.

    Transactions of read-only units of work (`READ_ONLY_OPTIONS`) begin deferred on SQLite
    and READ ONLY on PostgreSQL, and refuse any statement but SELECT on both. On SQLite
    this is the one writer connection (readers get `build_reader_engine`).
    """
    pool = pool or DatabasePool()
    if database_url.startswith("sqlite"):
        if ":memory:" not in database_url:
            # SQLite has one writer and every transaction here is BEGIN IMMEDIATE: with a
            # single pooled connection the waiters queue in asyncio (first come, first
            # served) instead of napping in SQLite's busy handler, which handed the lock
            # over late and unfairly (p99 5.1 s -> 0.87 s in bench/booking.py).
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", pool.timeout_seconds)
        engine = create_async_engine(
            database_url, connect_args={"timeout": 30}, pool_pre_ping=False, **kwargs
        )
        _configure_sqlite(engine)
    else:
        if "isolation_level" not in kwargs:
            # No ping per checkout (a round trip each): a connection the server dropped
            # fails its statement, SQLAlchemy recognises the disconnect and invalidates the
            # whole pool, so only requests already holding a dead connection fail;
            # `pool_recycle` retires connections before idle-timeouts on the way do.
            kwargs.setdefault("pool_size", pool.size)
            kwargs.setdefault("max_overflow", pool.max_overflow)
            kwargs.setdefault("pool_recycle", pool.recycle_seconds)
            kwargs.setdefault("pool_timeout", pool.timeout_seconds)
        engine = create_async_engine(database_url, pool_pre_ping=False, **kwargs)
    _guard_read_only(engine)
    return engine


def build_reader_engine(database_url: str, pool: DatabasePool) -> AsyncEngine | None:
    """SQLite only: a pool of reader connections beside the single writer, so a read-only
    unit of work never queues behind write transactions (WAL readers see the last commit
    and take no lock); None where one engine serves both (PostgreSQL, in-memory SQLite)."""
    if not database_url.startswith("sqlite") or ":memory:" in database_url:
        return None
    engine = create_async_engine(
        database_url,
        connect_args={"timeout": 30},
        pool_pre_ping=False,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_seconds,
    )
    _configure_sqlite(engine, query_only=True)
    _guard_read_only(engine)
    return engine


def is_read_only(connection: Connection) -> bool:
    """True if the connection was lent to a read-only unit of work."""
    return bool(connection.get_execution_options().get(READ_ONLY))


def _guard_read_only(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _refuse_writes(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        # Refuse before the database sees it: on SQLite a write would silently upgrade the
        # deferred reader to a writer (or fail later with SQLITE_BUSY), and PostgreSQL
        # would only say so after a round trip, in its own words.
        if is_read_only(connection) and not _is_read(statement):
            raise ReadOnlyViolation(f"Write in a read-only unit of work: {statement[:60]!r}")


def _is_read(statement: str) -> bool:
    return statement == "BEGIN" or statement.lstrip()[:6].upper() == "SELECT"


def _configure_sqlite(engine: AsyncEngine, *, query_only: bool = False) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN can be IMMEDIATE:
        # a deferred transaction that later writes can fail with SQLITE_BUSY instead
        # of waiting for the lock, which would turn a lost race into a 500.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        if query_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A reader begins deferred: in WAL mode it reads a snapshot and neither takes nor
        # waits for the write lock. Writers still take the lock at BEGIN.
        connection.exec_driver_sql("BEGIN" if is_read_only(connection) else "BEGIN IMMEDIATE")


class _ReadRoutingSession(Session):
    """Sends a read-only unit of work to the reader engine named in the session's info."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Engine | Connection:
        reader = self.info.get(_READER)
        if reader is not None and self.info.get(READ_ONLY):
            return reader  # type: ignore[no-any-return]
        return super().get_bind(*args, **kwargs)


_READER = "telehealth_reader"


def build_sessionmaker(
    engine: AsyncEngine, reader: AsyncEngine | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit; with a `reader`, read-only
    units of work (`READ_ONLY_OPTIONS`) run on it and everything else on `engine`."""
    if reader is None:
        return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    return async_sessionmaker(
        engine,
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=_ReadRoutingSession,
        info={_READER: reader.sync_engine},
    )


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the engines at startup and dispose of them at shutdown."""
    settings: Settings = app[keys.SETTINGS]
    engine = build_engine(settings.database_url, settings.db_pool)
    reader = build_reader_engine(settings.database_url, settings.db_pool)
    app[keys.ENGINE] = engine
    app[keys.SESSIONMAKER] = build_sessionmaker(engine, reader)
    try:
        yield
    finally:
        if reader is not None:
            await reader.dispose()
        await engine.dispose()
