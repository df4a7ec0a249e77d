"""The hash-chained audit log: written in the caller's transaction, verified offline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select, text
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
        """Append one event chained to the last one; committed with the caller's change."""
        await self._lock_chain()
        last = (
            await self._session.execute(
                select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
            )
        ).first()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        event = AuditEvent(
            seq=seq,
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
            prev_hash=prev_hash,
        )
        event.hash = event_digest(event)
        self._session.add(event)
        await self._session.flush()
        return event

    async def _lock_chain(self) -> None:
        # SQLite transactions here are BEGIN IMMEDIATE, so writers are already serialised;
        # PostgreSQL needs a transaction-scoped lock so two writers never share a `seq`.
        if self._session.get_bind().dialect.name == "postgresql":
            await self._session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK}
            )


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


@dataclass
class ChainReport:
    """What `verify_chain` found: rows checked and a line per broken link."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str = GENESIS_HASH

    @property
    def ok(self) -> bool:
        """True when every row matches its hash and links to its predecessor."""
        return not self.problems


async def iter_events(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEvent]:
    """Every audit event in chain order, read in batches."""
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
        after = rows[-1].seq


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Recompute every hash and link; name each edited, inserted or deleted row."""
    report = ChainReport()
    expected_seq, prev_hash = 1, GENESIS_HASH
    async for event in iter_events(session):
        report.checked += 1
        if event.seq != expected_seq:
            missing = (
                f"{expected_seq}"
                if event.seq == expected_seq + 1
                else (f"{expected_seq}..{event.seq - 1}")
            )
            report.problems.append(f"seq {missing}: missing (deleted) before seq {event.seq}")
        if event.prev_hash != prev_hash:
            report.problems.append(
                f"seq {event.seq} (id {event.id}): does not link to the row before it"
            )
        if event_digest(event) != event.hash:
            report.problems.append(
                f"seq {event.seq} (id {event.id}, {event.action}): content does not match "
                "its hash (edited)"
            )
        expected_seq, prev_hash = event.seq + 1, event.hash
    report.head_seq, report.head_hash = expected_seq - 1, prev_hash
    return report
