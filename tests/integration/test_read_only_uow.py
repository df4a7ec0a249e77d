"""Read-only units of work: writes are refused, and on SQLite a reader takes no write lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from telehealth.auth.models import LoginThrottle
from telehealth.db.base import utcnow
from telehealth.db.engine import ReadOnlyViolation, build_engine, build_sessionmaker
from telehealth.db.uow import UnitOfWork

# A reader that waited for the write lock would wait busy_timeout (30 s): far longer.
PROMPT = 5.0


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine as the app builds it, on a fresh database."""
    built = build_engine(database_url)
    yield built
    await built.dispose()


@pytest.fixture
async def second_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Another engine on the same database, standing for another process."""
    built = build_engine(database_url)
    yield built
    await built.dispose()


def _throttle(key: str) -> LoginThrottle:
    return LoginThrottle(key=key, failures=1, window_start=utcnow())


async def _count(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with UnitOfWork(sessionmaker, read_only=True) as uow:
        return await uow.session.scalar(select(func.count()).select_from(LoginThrottle)) or 0


async def test_an_orm_write_in_a_read_only_unit_of_work_is_refused(engine: AsyncEngine) -> None:
    sessionmaker = build_sessionmaker(engine)
    async with UnitOfWork(sessionmaker, read_only=True) as uow:
        uow.session.add(_throttle("account:ro"))
        with pytest.raises(ReadOnlyViolation, match="INSERT INTO login_throttle"):
            await uow.flush()
    assert await _count(sessionmaker) == 0


async def test_a_core_update_in_a_read_only_unit_of_work_is_refused(engine: AsyncEngine) -> None:
    sessionmaker = build_sessionmaker(engine)
    async with UnitOfWork(sessionmaker) as uow:
        uow.session.add(_throttle("account:ro"))
        await uow.commit()
    async with UnitOfWork(sessionmaker, read_only=True) as uow:
        with pytest.raises(ReadOnlyViolation):
            await uow.session.execute(update(LoginThrottle).values(failures=9))
        with pytest.raises(ReadOnlyViolation):
            await uow.session.execute(text("DELETE FROM login_throttle"))
    async with UnitOfWork(sessionmaker, read_only=True) as uow:
        assert await uow.session.scalar(select(LoginThrottle.failures)) == 1


async def test_a_read_only_unit_of_work_cannot_commit(engine: AsyncEngine) -> None:
    async with UnitOfWork(build_sessionmaker(engine), read_only=True) as uow:
        with pytest.raises(RuntimeError, match="read-only"):
            await uow.commit()


async def test_the_connection_writes_again_after_a_reader_returns_it(
    engine: AsyncEngine, backend: str
) -> None:
    # One pooled connection on SQLite: the reader's marks must not stick to it.
    sessionmaker = build_sessionmaker(engine)
    async with UnitOfWork(sessionmaker, read_only=True) as uow:
        await uow.session.execute(select(1))
    async with UnitOfWork(sessionmaker) as uow:
        uow.session.add(_throttle("account:after"))
        await uow.commit()
    assert await _count(sessionmaker) == 1
    if backend == "postgresql":
        setting = text("SELECT current_setting('transaction_read_only')")
        for read_only, expected in ((True, "on"), (False, "off"), (True, "on")):
            async with UnitOfWork(sessionmaker, read_only=read_only) as uow:
                assert await uow.session.scalar(setting) == expected


async def test_a_reader_proceeds_while_another_connection_holds_a_write(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    writer = build_sessionmaker(second_engine)
    reader = build_sessionmaker(engine)
    async with UnitOfWork(writer) as held:
        # On SQLite BEGIN IMMEDIATE: the write lock is held from here to the end of the block.
        held.session.add(_throttle("account:uncommitted"))
        await held.flush()
        seen = await asyncio.wait_for(_count(reader), PROMPT)
        assert seen == 0  # a snapshot without the uncommitted row
        await held.commit()
    assert await _count(reader) == 1


async def test_a_reader_leaves_the_write_lock_to_another_connection(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    reader = build_sessionmaker(engine)
    writer = build_sessionmaker(second_engine)
    async with UnitOfWork(reader, read_only=True) as uow:
        await uow.session.execute(select(func.count()).select_from(LoginThrottle))

        async def write() -> None:
            async with UnitOfWork(writer) as other:
                other.session.add(_throttle("account:other"))
                await other.commit()

        await asyncio.wait_for(write(), PROMPT)
    assert await _count(reader) == 1
