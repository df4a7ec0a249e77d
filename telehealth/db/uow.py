"""The unit of work: one session per use case, rolled back unless committed."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.db.engine import READ_ONLY, READ_ONLY_OPTIONS


class UnitOfWork:
    """Opens a session and a transaction; `commit()` makes the work durable.

    `read_only=True` is for pure reads: on SQLite the transaction begins deferred (a WAL
    reader that neither takes nor waits for the write lock), on PostgreSQL it is READ
    ONLY, and any statement but SELECT raises `ReadOnlyViolation`. On SQLite it runs on a
    reader connection of its own, never the single writer. It still holds a pooled
    connection: never open another unit of work inside it.
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, read_only: bool = False
    ) -> None:
        self._sessionmaker = sessionmaker
        self._read_only = read_only
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        """The session of this unit of work (only inside `async with`)."""
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside 'async with'")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        if self._read_only:
            # Session-wide options reach every connection the session takes, before BEGIN.
            # The info mark sends it to the reader pool where there is one (SQLite).
            self._session = self._sessionmaker(
                execution_options=READ_ONLY_OPTIONS, info={READ_ONLY: True}
            )
        else:
            self._session = self._sessionmaker()
        await self._session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        try:
            if session.in_transaction():
                await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        """Flush and commit; the unit of work is then finished."""
        if self._read_only:
            raise RuntimeError("A read-only unit of work has nothing to commit")
        await self.session.commit()

    async def flush(self) -> None:
        """Send pending changes so database constraints are checked now."""
        await self.session.flush()
