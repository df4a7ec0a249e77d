"""Answering a consult: messages, signed opinions, live sessions, and reading it all back."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from telehealth.accounts.repository import AccountsRepository
from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.principal import Principal
from telehealth.consults import policy
from telehealth.consults import schemas as s
from telehealth.consults.base import (
    ACTIVE,
    Change,
    ConsultServiceBase,
    Opened,
    by_assignee,
    by_party,
)
from telehealth.consults.live_session import discussed_in, session_held
from telehealth.consults.models import (
    ConsultMessage,
    ConsultOpinion,
    ConsultStatus,
)
from telehealth.consults.render import opinion_out, render_consults
from telehealth.db.base import new_id
from telehealth.errors import InvalidInput, RateLimited
from telehealth.rooms.models import RoomKind
from telehealth.rooms.subjects import room_for
from telehealth.scheduling.schemas import PersonRef

# How long a live consult session is planned for (its room ends a grace period after).
CONSULT_SESSION = timedelta(hours=1)
DISCUSSABLE = tuple(
    status
    for status in ConsultStatus
    if status not in (ConsultStatus.DRAFT, ConsultStatus.CANCELLED)
)
ANSWERABLE = (ConsultStatus.ACCEPTED, ConsultStatus.INFO_REQUESTED, ConsultStatus.ANSWERED)
# Each message is kept forever on the timeline: a party writes at most this many a minute
# on one consult (a person types far fewer; a runaway script is stopped).
MESSAGES_PER_WINDOW = 20
MESSAGE_WINDOW = timedelta(minutes=1)


def opinion_hash(opinion: ConsultOpinion) -> str:
    """SHA-256 over the signed content, the signer and the signing time."""
    content = {
        "consult_id": opinion.consult_id,
        "version": opinion.version,
        "author_id": opinion.author_id,
        "assessment": opinion.assessment,
        "recommendations": opinion.recommendations,
        "recommended_tests": opinion.recommended_tests,
        "recommended_treatment": opinion.recommended_treatment,
        "disposition": opinion.disposition,
        "transfer_facility_id": opinion.transfer_facility_id,
        "amendment_reason": opinion.amendment_reason,
        "signed_at": opinion.signed_at.isoformat(),
    }
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _ensure_message_rate(change: Change) -> None:
    """RateLimited once the caller has written MESSAGES_PER_WINDOW messages on this consult
    within MESSAGE_WINDOW (the consult row is locked: concurrent posts count in turn)."""
    since = change.clock() - MESSAGE_WINDOW
    recent = await change.uow.session.scalar(
        select(func.count()).where(
            ConsultMessage.consult_id == change.consult.id,
            ConsultMessage.author_id == change.actor_id,
            ConsultMessage.created_at > since,
        )
    )
    if (recent or 0) >= MESSAGES_PER_WINDOW:
        raise RateLimited(
            "Too many messages on this consult; wait a minute.",
            retry_after=int(MESSAGE_WINDOW.total_seconds()),
        )


async def _audit_read(opened: Opened, ctx: AuditContext | None, part: str) -> None:
    """Record a read of a consult's clinical content and commit: the last step before the
    answer, so what was read is what is recorded.

    Pages pass no context: they read the consult itself first, which is audited."""
    if ctx is None:
        return
    await AuditLog(opened.uow.session, ctx).record(
        "consult.read", "consult", opened.consult.id, {"part": part}
    )
    await opened.uow.commit()


class ConsultAnswers(ConsultServiceBase):
    """The conversation between the parties and the specialists' signed answer."""

    async def post_message(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.MessageIn
    ) -> s.TimelineEntry:
        """A message between the parties; a requester's reply ends an information hold."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_party, allowed=DISCUSSABLE, verb="discussed"
        ) as change:
            await _ensure_message_rate(change)
            consult = change.consult
            message = ConsultMessage(
                id=new_id(),
                consult_id=consult.id,
                author_id=principal.user_id,
                text=data.text,
                created_at=self._clock(),
            )
            change.repo.add(message)
            change.event("message", message_id=message.id, text=data.text)
            if (
                consult.status == ConsultStatus.INFO_REQUESTED.value
                and consult.requester_id == principal.user_id
            ):
                await self._resume(change)
            await change.record("consult.message", {"message_id": message.id})
            await change.uow.commit()
            return s.TimelineEntry(
                id=message.id,
                at=message.created_at,
                kind="message",
                actor=PersonRef(id=principal.user_id, full_name=principal.full_name),
                data={"text": data.text},
            )

    async def sign_opinion(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.OpinionIn
    ) -> s.ConsultOut:
        """Sign a written opinion; a later one is a new version that needs a reason."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_assignee, allowed=ANSWERABLE, verb="answered"
        ) as change:
            consult = change.consult
            versions = await change.repo.opinions(consult.id)
            if versions and not data.amendment_reason:
                raise InvalidInput("An amended opinion needs an amendment_reason.")
            if data.transfer_facility_id and not await AccountsRepository(
                change.uow.session
            ).facility(data.transfer_facility_id):
                raise InvalidInput("transfer_facility_id names no facility.")
            opinion = ConsultOpinion(
                id=new_id(),
                consult_id=consult.id,
                version=len(versions) + 1,
                author_id=principal.user_id,
                signed_at=self._clock(),
                **data.model_dump(mode="json"),
            )
            opinion.content_hash = opinion_hash(opinion)
            change.repo.add(opinion)
            if consult.status == ConsultStatus.INFO_REQUESTED.value:
                await self._end_hold(change)  # answered without waiting any longer
            consult.status = ConsultStatus.ANSWERED.value
            consult.answered_at = consult.answered_at or opinion.signed_at
            signed = {"version": opinion.version, "content_hash": opinion.content_hash}
            change.event("opinion_signed", **signed)
            await self._tell_requester(change, "answered", str(opinion.version))
            await change.record("consult.opinion", signed)
            return await change.finish()

    async def schedule_session(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ScheduleIn
    ) -> s.ConsultOut:
        """Set a time for a live session with the parties; the consult gets its relay room
        (made once, moved when the session is rescheduled)."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_assignee, allowed=ACTIVE, verb="scheduled"
        ) as change:
            if data.start <= self._clock():
                raise InvalidInput("The session must start in the future.")
            room = await room_for(
                change.uow.session,
                RoomKind.CONSULT,
                change.consult.id,
                data.start,
                data.start + CONSULT_SESSION,
            )
            change.consult.session_at = data.start
            change.consult.room_id = room.id
            change.event("session_scheduled", start=data.start, room_id=room.id)
            local = data.start.astimezone(ZoneInfo(self._settings.default_timezone))
            await self._tell_requester(
                change, "session_scheduled", local.strftime("%H:%M %d/%m/%Y (UTC%z)")
            )
            await change.record("consult.schedule", {"start": data.start.isoformat()})
            return await change.finish()

    async def get(self, principal: Principal, ctx: AuditContext, consult_id: str) -> s.ConsultOut:
        """One consult: clinical content for parties, metadata for admins; audited."""
        async with self._reading(
            principal, consult_id, least=policy.Access.METADATA, audited=ctx
        ) as opened:
            await AuditLog(opened.uow.session, ctx).record(
                "consult.read", "consult", opened.consult.id
            )
            out = await render_consults(opened.uow.session, [opened.consult], opened.viewer)
            await opened.uow.commit()
            return out[0]

    async def timeline(
        self, principal: Principal, consult_id: str, ctx: AuditContext | None = None
    ) -> s.TimelineOut:
        """Every state change, message, attachment and opinion, oldest first; audited
        with `ctx` (None: the caller has audited its read of the consult already)."""
        async with self._reading(principal, consult_id, audited=ctx) as opened:
            events = await opened.repo.events(consult_id)
            held = await session_held(
                opened.uow.session,
                opened.consult,
                self._settings.rooms.reconnect_window,
                self._clock(),
            )
            users = await AccountsRepository(opened.uow.session).users_by_ids(
                {e.actor_id for e in events if e.actor_id} | (held.user_ids if held else set())
            )
            await _audit_read(opened, ctx, "timeline")
            items = [
                s.TimelineEntry(
                    id=e.id,
                    at=e.at,
                    kind=e.kind,
                    data=e.data,
                    actor=PersonRef(id=e.actor_id, full_name=users[e.actor_id].full_name)
                    if e.actor_id in users
                    else None,
                )
                for e in events
            ]
            if held is not None:  # the live session, at the moment its room went live
                items = sorted([*items, held.entry(users)], key=lambda i: i.at)
            return s.TimelineOut(items=items)

    async def amendments(
        self, principal: Principal, consult_id: str, ctx: AuditContext | None = None
    ) -> list[s.AmendmentOut]:
        """What each amendment of the request changed, with the values it replaced."""
        async with self._reading(principal, consult_id, audited=ctx) as opened:
            rows = await opened.repo.amendments(consult_id)
            users = await AccountsRepository(opened.uow.session).users_by_ids(
                {a.author_id for a in rows}
            )
            await _audit_read(opened, ctx, "amendments")
            return [
                s.AmendmentOut(
                    version=a.version,
                    author=PersonRef(
                        id=a.author_id,
                        full_name=users[a.author_id].full_name if a.author_id in users else "",
                    ),
                    at=a.created_at,
                    note=a.note,
                    previous=a.previous,
                    changes=a.changes,
                )
                for a in rows
            ]

    async def opinions(
        self, principal: Principal, consult_id: str, ctx: AuditContext | None = None
    ) -> list[s.OpinionOut]:
        """Every signed version of the opinion."""
        async with self._reading(principal, consult_id, audited=ctx) as opened:
            rows = await opened.repo.opinions(consult_id)
            users = await AccountsRepository(opened.uow.session).users_by_ids(
                {o.author_id for o in rows}
            )
            room = await discussed_in(opened.uow.session, opened.consult)
            await _audit_read(opened, ctx, "opinions")
            # An opinion signed after the session went live links to it.
            live = room.live_at if room else None
            return [
                opinion_out(o, users, room.id if room and live and live <= o.signed_at else None)
                for o in rows
            ]
