"""The outbox dispatcher: claims due messages, sends them, records each outcome, and retries
with backoff. It is owned by the app (`outbox_ctx`) and stopped cleanly at shutdown.

Every step that touches the database is its own short transaction; none is held while a
message is on the wire. Delivery is at least once: a sender killed after the relay accepted
a message but before recording it resends that message once its lease has run out, with the
same Message-ID / outbox id, so the receiver can drop the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth import keys
from telehealth.config import OutboxSettings
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.outbox.backoff import backoff_delay
from telehealth.outbox.models import Channel
from telehealth.outbox.repository import Claim, OutboxRepository
from telehealth.outbox.transports import DeliveryError, Transport, build_transports

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 15.0
# Shortest pause between polls, so a message that is due but held by another node's claim
# transaction for a moment does not turn the loop into a busy wait.
MIN_PAUSE_SECONDS = 0.05


class OutboxMetrics:
    """Delivery attempts by channel and outcome (sent, retry, failed) in the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "telehealth_outbox_deliveries_total",
            "Outbox delivery attempts by channel and outcome",
            ["channel", "outcome"],
            registry=registry,
        )

    def count(self, channel: Channel, outcome: str) -> None:
        """Count one attempt."""
        self.deliveries.labels(channel.value, outcome).inc()


class OutboxDispatcher:
    """Sends due outbox messages through the transports of the configured channels."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: OutboxSettings,
        transports: Mapping[Channel, Transport],
        *,
        clock: Callable[[], datetime] = utcnow,
        metrics: OutboxMetrics | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._transports = dict(transports)
        self._clock = clock
        self._metrics = metrics
        self._rng = rng
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def channels(self) -> frozenset[Channel]:
        """The channels this dispatcher sends; messages of the others stay pending."""
        return frozenset(self._transports)

    async def dispatch_once(self) -> int:
        """Claim one batch of due messages, try each, record the outcomes; returns how many
        were tried."""
        claims = await self._claim()
        if claims:
            # Each delivery catches its own errors, so one bad message never cancels the rest.
            async with asyncio.TaskGroup() as group:
                for claim in claims:
                    group.create_task(self._deliver(claim), name=f"outbox-{claim.message.id}")
        return len(claims)

    async def _claim(self) -> list[Claim]:
        if not self._transports:
            return []
        now = self._clock()
        lease_until = now + timedelta(seconds=self._settings.lease_seconds)
        async with UnitOfWork(self._sessionmaker) as uow:
            claims = await OutboxRepository(uow.session).claim(
                self.channels, now, lease_until, self._settings.batch_size
            )
            await uow.commit()
        return claims

    async def _deliver(self, claim: Claim) -> None:
        message = claim.message
        try:
            await self._transports[message.channel].send(message)
        except DeliveryError as exc:
            await self._record_failure(claim, str(exc), exc.permanent)
        except Exception as exc:  # a transport bug must not stop the other deliveries
            log.exception("outbox transport crashed", extra={"outbox_id": message.id})
            await self._record_failure(claim, f"{type(exc).__name__}: {exc}", False)
        else:
            await self._record(claim, "sent", None, None)

    async def _record_failure(self, claim: Claim, error: str, permanent: bool) -> None:
        attempts = claim.attempts + 1
        if permanent or attempts >= self._settings.max_attempts:
            await self._record(claim, "failed", error, None)
            return
        delay = backoff_delay(attempts, self._settings.backoff_base_seconds, rng=self._rng)
        await self._record(claim, "retry", error, self._clock() + delay)

    async def _record(
        self, claim: Claim, outcome: str, error: str | None, retry_at: datetime | None
    ) -> None:
        message = claim.message
        context = {
            "outbox_id": message.id,
            "channel": message.channel.value,
            "attempt": claim.attempts + 1,
            "outcome": outcome,
        }
        try:
            async with UnitOfWork(self._sessionmaker) as uow:
                repo = OutboxRepository(uow.session)
                if outcome == "sent":
                    kept = await repo.record_sent(claim, self._clock())
                else:
                    kept = await repo.record_failure(claim, error or outcome, retry_at)
                await uow.commit()
        except Exception:
            # The row stays 'sending' and is retried once its lease has run out.
            log.exception("outbox outcome not recorded", extra=context)
            return
        if self._metrics is not None:
            self._metrics.count(message.channel, outcome)
        if not kept:
            log.warning("outbox claim lost before its outcome was recorded", extra=context)
        elif outcome == "sent":
            log.info("outbox message sent", extra=context)
        else:
            log.warning("outbox delivery failed", extra={**context, "error": error})

    async def run(self) -> None:
        """Dispatch until `stop()`: a full batch is followed at once by the next, otherwise
        the loop waits for the poll interval or the next message falling due, if sooner."""
        idle = sorted(c.value for c in set(Channel) - self.channels)
        log.info(
            "outbox dispatcher started",
            extra={"channels": sorted(c.value for c in self.channels), "not_configured": idle},
        )
        if idle:
            log.warning(
                "outbox channels not configured: their messages stay pending", extra={"idle": idle}
            )
        while not self._stopping.is_set():
            try:
                if await self.dispatch_once() >= self._settings.batch_size:
                    continue
                pause = await self._pause()
            except Exception:
                log.exception("outbox dispatch failed; retrying after the poll interval")
                pause = self._settings.poll_seconds
            await self._sleep(pause)
        log.info("outbox dispatcher stopped")

    async def _pause(self) -> float:
        pause = self._settings.poll_seconds
        if not self._transports:
            return pause
        async with UnitOfWork(self._sessionmaker) as uow:
            due = await OutboxRepository(uow.session).next_due(self.channels)
        if due is not None:
            pause = min(pause, (due - self._clock()).total_seconds())
        return max(pause, MIN_PAUSE_SECONDS)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def start(self) -> None:
        """Run the loop in a task this dispatcher owns until `stop()`."""
        if self._task is not None:
            raise RuntimeError("the outbox dispatcher is already running")
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name="outbox-dispatcher")
        self._task.add_done_callback(_report_end)

    async def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Ask the loop to finish its batch and end; cancel it if it takes longer than the
        grace period (its claimed messages are then resent after their lease)."""
        task, self._task = self._task, None
        self._stopping.set()
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace_seconds)
        except TimeoutError:
            log.warning("outbox dispatcher did not stop in time; cancelling it")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _report_end(task: asyncio.Task[None]) -> None:
    # The loop only ends through stop(); anything else must be loud, never silent.
    if not task.cancelled() and task.exception() is not None:
        log.error("outbox dispatcher died", exc_info=task.exception())


async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the dispatcher while the app runs (when enabled); stop it and close its HTTP
    session at shutdown."""
    settings = app[keys.SETTINGS]
    if not settings.outbox.enabled:
        log.info("outbox dispatcher disabled: messages stay queued")
        yield
        return
    async with aiohttp.ClientSession() as http:
        transports = build_transports(settings, http)
        if not transports:
            log.warning("no outbox channel configured (SMTP, SMS): messages stay queued")
            yield
            return
        dispatcher = OutboxDispatcher(
            app[keys.SESSIONMAKER],
            settings.outbox,
            transports,
            metrics=OutboxMetrics(app[keys.METRICS_REGISTRY]),
        )
        dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
