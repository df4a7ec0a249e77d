"""The hash-chained audit log: rows written unchained in the caller's transaction, chained
shortly after by the sequencer (`telehealth.auth.sequencer`), verified offline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.auth.models import AuditEvent
from telehealth.db.base import new_id, utcnow
from telehealth.db.uow import UnitOfWork

GENESIS_HASH = "0" * 64
# Any constant works; it only has to be the same for every node sharing the database.
_PG_CHAIN_LOCK = 0x7E1E_A0D1


@dataclass(frozen=True)
class AuditContext:
    """Who is acting and from where; carried from the edge into every service call."""

    actor_id: str | None = None
    client_address: str | None = None
    request_id: str | None = None
    client_request_id: str | None = None

    def as_actor(self, actor_id: str) -> AuditContext:
        """The same request, acted on by `actor_id` (a caller who just signed in)."""
        return replace(self, actor_id=actor_id)


SYSTEM = AuditContext()


def event_digest(event: AuditEvent) -> str:
    """The SHA-256 over a canonical form of the row's content and its predecessor's hash."""
    body = {
        "seq": event.seq,
        "id": event.id,
        "at": _iso(event.at),
        "actor_id": event.actor_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "client_address": event.client_address,
        "request_id": event.request_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    if event.client_request_id is not None:
        # Added later: rows written before it existed keep the digest they were given.
        body["client_request_id"] = event.client_request_id
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _iso(at: datetime) -> str:
    # Microsecond precision survives both SQLite and PostgreSQL.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class AuditLog:
    """Appends audit events inside the session's current transaction."""

    def __init__(self, session: AsyncSession, context: AuditContext) -> None:
        self._session = session
        self._context = context

    async def record(
        self,
        action: str,
        object_type: str,
        object_id: str | None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Add one unchained event; it is inserted and committed with the caller's change.

        No lock and no read of the chain's head: the sequencer gives the row its place
        once the caller's transaction has committed.
        """
        event = AuditEvent(
            id=new_id(),
            at=utcnow(),
            actor_id=self._context.actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            client_address=self._context.client_address,
            request_id=self._context.request_id,
            client_request_id=self._context.client_request_id,
            details=json.loads(json.dumps(details or {}, default=str)),
        )
        self._session.add(event)
        return event


async def record_list_read(
    sessionmaker: async_sessionmaker[AsyncSession],
    ctx: AuditContext,
    action: str,
    ids: list[str],
    object_type: str | None = None,
    object_id: str | None = None,
    **details: Any,
) -> None:
    """One audit event for a list read, naming every record shown; none for an empty list.

    Lists are read in read-only units of work; the event is written in a short one of
    its own before the list is returned, so nothing is shown that is not audited.
    """
    if not ids:
        return
    async with UnitOfWork(sessionmaker) as uow:
        await AuditLog(uow.session, ctx).record(
            action, object_type or action.split(".")[0], object_id, {"ids": ids, **details}
        )
        await uow.commit()


class _Identified(Protocol):
    id: str


async def audit_refusal(
    uow: UnitOfWork, ctx: AuditContext, object_type: str, record: _Identified | None
) -> None:
    """Record and commit a refused read of an existing record (`<type>.read_refused`),
    before the caller answers 404 as for a missing one; a missing one records nothing."""
    if record is None:
        return
    await AuditLog(uow.session, ctx).record(f"{object_type}.read_refused", object_type, record.id)
    await uow.commit()


async def chain_pending(session: AsyncSession, limit: int) -> int:
    """Chain up to `limit` committed, unchained rows after the head; returns how many.

    Runs in the caller's write transaction, which it makes the only chainer until it ends
    (a transaction-scoped advisory lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already
    is one): whatever the lease says, two nodes never give out the same place. Only rows
    whose transactions have committed are visible here, so the chain takes rows in the
    order they become visible; one committed later than a newer-looking row simply gets a
    later place in a later batch.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK})
    head = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.seq.is_not(None))
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (int(head[0] or 0), str(head[1])) if head else (0, GENESIS_HASH)
    waiting = (
        await session.execute(
            select(*AuditEvent.__table__.columns)
            .where(AuditEvent.seq.is_(None))
            .order_by(AuditEvent.at, AuditEvent.id)
            .limit(limit)
        )
    ).all()
    if not waiting:
        return 0
    # Plain rows, not session objects: the links go out in one executemany UPDATE by
    # primary key, and nothing is flushed twice.
    events = [AuditEvent(**row._mapping) for row in waiting]
    await session.execute(update(AuditEvent), _links(events, seq, prev_hash))
    return len(events)


def _links(events: Sequence[AuditEvent], seq: int, prev_hash: str) -> list[dict[str, Any]]:
    links = []
    for event in events:
        seq += 1
        event.seq, event.prev_hash = seq, prev_hash
        prev_hash = event_digest(event)
        links.append({"id": event.id, "seq": seq, "prev_hash": event.prev_hash, "hash": prev_hash})
    return links


@dataclass
class ChainReport:
    """What `verify_chain` found: rows checked, a line per broken link, rows not yet chained."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    unchained: int = 0
    oldest_unchained: datetime | None = None

    @property
    def ok(self) -> bool:
        """True when every row matches its hash and links to its predecessor, and none has
        waited for its place longer than the bound."""
        return not self.problems


async def iter_events(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEvent]:
    """Every chained audit event in chain order, read in batches."""
    after = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq > after)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].seq or after


async def verify_chain(
    session: AsyncSession, bound: timedelta | None = None, now: datetime | None = None
) -> ChainReport:
    """Recompute every hash and link; name each edited, inserted or deleted row, and count
    the rows not chained yet (a problem when one has waited longer than `bound`)."""
    report = ChainReport()
    expected_seq, prev_hash = 1, GENESIS_HASH
    async for event in iter_events(session):
        report.checked += 1
        seq = event.seq or 0
        if seq != expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
            report.problems.append(f"seq {missing}: missing (deleted) before seq {seq}")
        if event.prev_hash != prev_hash:
            report.problems.append(f"seq {seq} (id {event.id}): does not link to the row before it")
        if event_digest(event) != event.hash:
            report.problems.append(
                f"seq {seq} (id {event.id}, {event.action}): content does not match "
                "its hash (edited)"
            )
        expected_seq, prev_hash = seq + 1, event.hash or ""
    report.head_seq, report.head_hash = expected_seq - 1, prev_hash
    await _check_unchained(session, report, bound, now or utcnow())
    return report


async def _check_unchained(
    session: AsyncSession, report: ChainReport, bound: timedelta | None, now: datetime
) -> None:
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(AuditEvent.at)).where(AuditEvent.seq.is_(None))
        )
    ).one()
    report.unchained, report.oldest_unchained = int(count or 0), oldest
    if oldest is None or bound is None:
        return
    overdue = (
        await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.seq.is_(None), AuditEvent.at < now - bound)
        )
    ) or 0
    if overdue:
        report.problems.append(
            f"{overdue} events not chained within {bound.total_seconds():g} s "
            f"(oldest written {_iso(oldest)}): is a sequencer running?"
        )
