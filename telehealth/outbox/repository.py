"""The dispatcher's SQL: claiming due messages under a lease, and recording what happened.

A claim is an UPDATE in its own short transaction; the lease end it writes (`claimed_until`)
is also the claim's token. Recording an outcome only touches a row that still carries that
token, so a sender whose lease ran out (and whose message another node re-claimed) cannot
overwrite the newer attempt's result.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.outbox.models import Channel, MessageStatus, OutboxMessage
from telehealth.outbox.transports import OutgoingMessage

_PENDING = MessageStatus.PENDING.value
_SENDING = MessageStatus.SENDING.value
_ERROR_LIMIT = 2000


@dataclass(frozen=True)
class Claim:
    """A message this sender holds until `token` (its lease end), and its attempts so far."""

    message: OutgoingMessage
    attempts: int
    token: datetime


def _due(now: datetime) -> ColumnElement[bool]:
    # A 'sending' row whose lease has run out belongs to a sender that crashed or hung.
    return or_(
        and_(OutboxMessage.status == _PENDING, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == _SENDING, OutboxMessage.claimed_until < now),
    )


class OutboxRepository:
    """Claims and outcomes of outbox messages, inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(
        self, channels: Collection[Channel], now: datetime, lease_until: datetime, limit: int
    ) -> list[Claim]:
        """Mark up to `limit` due messages of these channels as being sent, until the lease
        ends; returns exactly the rows this statement took."""
        if not channels:
            return []
        wanted = [c.value for c in channels]
        picked = (
            select(OutboxMessage.id)
            .where(_due(now), OutboxMessage.channel.in_(wanted))
            .order_by(OutboxMessage.next_attempt_at)
            .limit(limit)
        )
        if self._session.get_bind().dialect.name == "postgresql":
            # Several nodes claim at once: each skips the rows another is claiming instead
            # of queueing behind its lock. SQLite needs no such clause: its IMMEDIATE
            # transactions (db.engine) already run one claim at a time.
            picked = picked.with_for_update(skip_locked=True)
        result = await self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(picked.scalar_subquery()), _due(now))
            .values(status=_SENDING, claimed_until=lease_until)
            .returning(
                OutboxMessage.id,
                OutboxMessage.channel,
                OutboxMessage.recipient,
                OutboxMessage.subject,
                OutboxMessage.body,
                OutboxMessage.locale,
                OutboxMessage.attempts,
            ),
            execution_options={"synchronize_session": False},
        )
        return [
            Claim(
                OutgoingMessage(
                    row.id, Channel(row.channel), row.recipient, row.subject, row.body, row.locale
                ),
                attempts=row.attempts,
                token=lease_until,
            )
            for row in result
        ]

    async def record_sent(self, claim: Claim, now: datetime) -> bool:
        """The message was delivered; False when the claim was lost meanwhile.

        A row withdrawn while it was in flight is recorded as sent too: it was."""
        result = await self._session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == claim.message.id,
                OutboxMessage.claimed_until == claim.token,
                OutboxMessage.status.in_([_SENDING, MessageStatus.CANCELLED.value]),
            )
            .values(
                status=MessageStatus.SENT.value,
                sent_at=now,
                attempts=claim.attempts + 1,
                claimed_until=None,
                last_error=None,
            ),
            execution_options={"synchronize_session": False},
        )
        return bool(getattr(result, "rowcount", 0))

    async def record_failure(self, claim: Claim, error: str, retry_at: datetime | None) -> bool:
        """The attempt failed: pending again until `retry_at`, or failed for good when None.
        False when the claim was lost (or the message withdrawn) meanwhile."""
        status = MessageStatus.FAILED if retry_at is None else MessageStatus.PENDING
        values: dict[str, object] = {
            "status": status.value,
            "attempts": claim.attempts + 1,
            "last_error": error[:_ERROR_LIMIT],
            "claimed_until": None,
        }
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        result = await self._session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == claim.message.id,
                OutboxMessage.claimed_until == claim.token,
                OutboxMessage.status == _SENDING,
            )
            .values(values),
            execution_options={"synchronize_session": False},
        )
        return bool(getattr(result, "rowcount", 0))

    async def next_due(self, channels: Collection[Channel]) -> datetime | None:
        """When the earliest pending message of these channels becomes due."""
        if not channels:
            return None
        due: datetime | None = await self._session.scalar(
            select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.status == _PENDING,
                OutboxMessage.channel.in_([c.value for c in channels]),
            )
        )
        return due
