"""Queueing and withdrawing messages inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.accounts.validators import receives_sms
from telehealth.outbox.models import Channel, MessageStatus, OutboxMessage


@dataclass(frozen=True)
class Message:
    """A message to queue: where, what, when, and the key that makes it unique."""

    dedupe_key: str
    channel: Channel
    recipient: str
    subject: str
    body: str
    locale: str
    topic: str
    due_at: datetime
    object_type: str | None = None
    object_id: str | None = None
    recipient_user_id: str | None = None


def _deliverable(message: Message) -> bool:
    """SMS only to mobile numbers; every other channel as given."""
    return message.channel is not Channel.SMS or receives_sms(message.recipient)


class Outbox:
    """Writes messages in the same transaction as the change that causes them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def queue(self, messages: list[Message]) -> int:
        """Add messages whose key is not queued yet; returns how many were added."""
        # Landlines (a patient without a mobile) cannot take SMS: nothing is queued for
        # them, so no message waits forever on a number that will never receive it.
        messages = [m for m in messages if _deliverable(m)]
        if not messages:
            return 0
        keys = [m.dedupe_key for m in messages]
        existing = set(
            (
                await self._session.scalars(
                    select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys))
                )
            ).all()
        )
        fresh = [m for m in messages if m.dedupe_key not in existing]
        self._session.add_all(
            OutboxMessage(
                dedupe_key=m.dedupe_key,
                channel=m.channel.value,
                recipient=m.recipient,
                subject=m.subject,
                body=m.body,
                locale=m.locale,
                topic=m.topic,
                object_type=m.object_type,
                object_id=m.object_id,
                recipient_user_id=m.recipient_user_id,
                due_at=m.due_at,
                next_attempt_at=m.due_at,
                status=MessageStatus.PENDING.value,
                attempts=0,
            )
            for m in fresh
        )
        await self._session.flush()
        return len(fresh)

    async def withdraw(self, object_type: str, object_id: str, topic: str) -> None:
        """Cancel messages of one topic about one object that have not been sent yet.

        Claimed ('sending') rows are withdrawn too: a sender that crashed holding one would
        otherwise send it after its lease ran out. A live sender still records a message it
        did deliver as sent (the dispatcher's outcome wins over a withdrawal in flight)."""
        await self._session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.object_type == object_type,
                OutboxMessage.object_id == object_id,
                OutboxMessage.topic == topic,
                OutboxMessage.status.in_(
                    [MessageStatus.PENDING.value, MessageStatus.SENDING.value]
                ),
            )
            .values(status=MessageStatus.CANCELLED.value)
        )
