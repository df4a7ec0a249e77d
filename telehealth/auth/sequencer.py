"""The audit sequencer: a task owned by the app that chains committed audit rows.

Requests insert their audit rows unchained, so no request waits on a lock of the whole
log. One sequencer per database (claimed with a lease row, renewed while it chains)
gives those rows their place in the hash chain within `AuditSettings.chain_seconds`.
The lease only keeps the other nodes idle: the chaining transaction itself excludes any
other chainer (`chain_pending`), so a lost or stolen lease costs time, never the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth import keys
from telehealth.auth.audit import chain_pending
from telehealth.auth.models import AuditEvent, AuditSequencerLease
from telehealth.config import AuditSettings
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork

log = logging.getLogger("telehealth.auth.sequencer")

LEASE_NAME = "audit-chain"


class AuditSequencer:
    """Chains the audit log in batches while it holds the lease; `drain()` chains all."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: AuditSettings,
        holder: str,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._holder = holder
        # Until when another node's lease keeps this one idle (by this node's clock).
        self._other_until: datetime | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def chain_once(self) -> int:
        """One chaining step if this node holds or can take the lease; rows chained."""
        if self._other_until is not None and utcnow() < self._other_until:
            return 0
        if not await self._has_work():
            return 0
        async with UnitOfWork(self._sessionmaker) as uow:
            if not await self._claim(uow.session):
                return 0
            chained = await chain_pending(uow.session, self._settings.batch_size)
            await uow.commit()
        return chained

    async def drain(self) -> int:
        """Chain until nothing committed is left unchained (tests, `audit chain`)."""
        total = 0
        while chained := await self.chain_once():
            total += chained
        return total

    def start(self) -> None:
        """Run the sequencer in the background until `stop()`."""
        self._task = asyncio.create_task(self._run(), name="audit-sequencer")

    async def stop(self) -> None:
        """Stop after the current step and chain what is left (a crash leaves it to the
        next sequencer instead)."""
        self._stop.set()
        if self._task is None:
            return
        await self._task
        try:
            await asyncio.wait_for(self.drain(), self._settings.lease_seconds)
            await self.release()
        except Exception:
            log.exception("audit rows left unchained at shutdown; the next sequencer chains them")

    async def release(self) -> None:
        """Give the lease up now if this node holds it, so another may chain at once."""
        async with UnitOfWork(self._sessionmaker) as uow:
            await uow.session.execute(
                update(AuditSequencerLease)
                .where(
                    AuditSequencerLease.name == LEASE_NAME,
                    AuditSequencerLease.holder == self._holder,
                )
                .values(expires_at=utcnow())
            )
            await uow.commit()

    async def _run(self) -> None:
        # Polling at half the bound keeps a committed row's wait under it.
        interval = self._settings.chain_seconds / 2
        while not self._stop.is_set():
            full = False
            try:
                full = await self.chain_once() == self._settings.batch_size
            except Exception:
                log.exception("audit chaining step failed; retrying")
            if full:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

    async def _has_work(self) -> bool:
        # A reader: on SQLite it never takes the write lock when there is nothing to do.
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            return bool(await uow.session.scalar(select(exists().where(AuditEvent.seq.is_(None)))))

    async def _claim(self, session: AsyncSession) -> bool:
        now = utcnow()
        lease = await session.get(AuditSequencerLease, LEASE_NAME, with_for_update=True)
        if lease is not None and lease.holder != self._holder and lease.expires_at > now:
            self._other_until = lease.expires_at
            return False
        expires = now + timedelta(seconds=self._settings.lease_seconds)
        if lease is None:
            try:
                async with session.begin_nested():
                    session.add(
                        AuditSequencerLease(
                            name=LEASE_NAME, holder=self._holder, expires_at=expires
                        )
                    )
            except IntegrityError:
                return False  # another node created it first: it holds the lease
        else:
            lease.holder, lease.expires_at = self._holder, expires
        self._other_until = None
        return True


async def chain_written(
    sessionmaker: async_sessionmaker[AsyncSession], settings: AuditSettings, node_id: str
) -> int:
    """Chain what a command just wrote (`user create`, `demo`, `audit chain`) before it
    exits, and give the lease back; nothing when a running server holds the lease (it
    chains them itself)."""
    sequencer = AuditSequencer(sessionmaker, settings, node_id)
    chained = await sequencer.drain()
    await sequencer.release()
    return chained


async def audit_sequencer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the sequencer while the app runs; stop it at shutdown."""
    settings = app[keys.SETTINGS]
    sequencer = AuditSequencer(app[keys.SESSIONMAKER], settings.audit, settings.rooms.node_id)
    app[keys.AUDIT_SEQUENCER] = sequencer
    sequencer.start()
    try:
        yield
    finally:
        await sequencer.stop()
