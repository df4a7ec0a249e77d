"""What every consult use case shares: one unit of work, the caller as a viewer, the
consult loaded and checked, its timeline events, the audit and the rendered answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts.models import User
from telehealth.auth.audit import AuditContext, AuditLog, audit_refusal
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.consults import policy
from telehealth.consults import schemas as s
from telehealth.consults.models import OPEN_STATUSES, ConsultEvent, ConsultRequest, ConsultStatus
from telehealth.consults.notices import consult_messages
from telehealth.consults.render import render_consults
from telehealth.consults.repository import ConsultRepository, load_viewer
from telehealth.db.base import new_id, utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import Conflict, ErrorCode, NotFound
from telehealth.outbox.writer import Outbox

# Submitted and not closed: the team still works on an answered consult (hands it over,
# meets the parties).
ACTIVE = (*OPEN_STATUSES, ConsultStatus.ANSWERED)


def add_event(
    repo: ConsultRepository,
    consult: ConsultRequest,
    at: datetime,
    actor_id: str | None,
    kind: str,
    **data: Any,
) -> None:
    """Stage one timeline entry (`data` stored as JSON: datetimes become strings)."""
    repo.add(
        ConsultEvent(
            id=new_id(),
            consult_id=consult.id,
            at=at,
            actor_id=actor_id,
            kind=kind,
            data=json.loads(json.dumps(data, default=str)),
        )
    )


@dataclass
class Opened:
    """A consult loaded in a unit of work for a caller allowed to see it."""

    uow: UnitOfWork
    repo: ConsultRepository
    viewer: policy.Viewer
    consult: ConsultRequest
    assignees: set[str]


@dataclass
class Change(Opened):
    """A consult being changed by one use case: its events, audit and rendered answer."""

    audit: AuditLog
    clock: Callable[[], datetime]

    @property
    def actor_id(self) -> str:
        """The user making the change."""
        return self.viewer.principal.user_id

    def event(self, kind: str, **data: Any) -> None:
        """Stage a timeline entry by the caller, timed now."""
        add_event(self.repo, self.consult, self.clock(), self.actor_id, kind, **data)

    async def record(self, action: str, details: dict[str, Any] | None = None) -> None:
        """Audit the change, in the same transaction."""
        await self.audit.record(action, "consult", self.consult.id, details)

    async def finish(self) -> s.ConsultOut:
        """Flush, render the consult for the caller, then commit."""
        await self.uow.flush()
        out = (await render_consults(self.uow.session, [self.consult], self.viewer))[0]
        await self.uow.commit()
        return out


Ensure = Callable[[Opened], None]


def by_party(opened: Opened) -> None:
    """Any party: seeing the clinical content was checked on loading."""


def by_requester(opened: Opened) -> None:
    """Only the doctor who filed the request."""
    policy.ensure_requester(opened.viewer, opened.consult)


def by_triage(opened: Opened) -> None:
    """A specialist of the queue, or one already assigned."""
    policy.ensure_triage(opened.viewer, opened.consult, opened.assignees)


def by_decliner(opened: Opened) -> None:
    """The queue while nobody has taken the request, then only those working on it."""
    policy.ensure_decliner(opened.viewer, opened.consult, opened.assignees)


def by_assignee(opened: Opened) -> None:
    """Only a specialist working on the consult."""
    policy.ensure_assignee(opened.viewer, opened.assignees)


class ConsultServiceBase:
    """The session factory, settings and clock, and the frame each use case runs in."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessionmaker)

    async def _viewer(self, repo: ConsultRepository, principal: Principal) -> policy.Viewer:
        return await load_viewer(repo.session, principal)

    @asynccontextmanager
    async def _reading(
        self,
        principal: Principal,
        consult_id: str,
        *,
        lock: bool = False,
        least: policy.Access = policy.Access.CLINICAL,
        audited: AuditContext | None = None,
    ) -> AsyncIterator[Opened]:
        """A unit of work with the consult, if the caller may see at least `least` of it
        (404 otherwise, so strangers cannot tell it exists). With `audited`, refusing an
        existing consult is recorded as `consult.read_refused`."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult = await repo.consult(consult_id, lock=lock)
            team = await repo.team(consult.id) if consult else set()
            if consult is None or policy.access(viewer, consult, team).value < least.value:
                if audited is not None:
                    await audit_refusal(uow, audited, "consult", consult)
                raise NotFound("No such consult.")
            yield Opened(uow, repo, viewer, consult, team)

    @asynccontextmanager
    async def _changing(
        self,
        principal: Principal,
        ctx: AuditContext,
        consult_id: str,
        *,
        ensure: Ensure,
        allowed: tuple[ConsultStatus, ...],
        verb: str,
    ) -> AsyncIterator[Change]:
        """A unit of work with the consult row-locked, once the caller may see it (404),
        `ensure` lets them act (403) and its status is `allowed` (409, naming `verb`)."""
        async with self._reading(principal, consult_id, lock=True) as opened:
            ensure(opened)
            status = opened.consult.status
            if status not in {a.value for a in allowed}:
                raise Conflict(
                    f"A consult that is {status} cannot be {verb}.",
                    code=ErrorCode.INVALID_TRANSITION,
                )
            yield Change(
                opened.uow,
                opened.repo,
                opened.viewer,
                opened.consult,
                opened.assignees,
                AuditLog(opened.uow.session, ctx),
                self._clock,
            )

    async def _end_hold(self, change: Change) -> None:
        """Move the deadline on by the time the request has waited on its requester."""
        consult, now = change.consult, self._clock()
        asked = await change.repo.last_event_at(consult.id, "info_requested")
        if asked is not None and consult.due_at is not None and now > asked:
            consult.due_at += now - asked
            if consult.due_at > now:
                consult.overdue_at = None

    async def _resume(self, change: Change) -> None:
        """End an information hold: the deadline moves on by the time the request waited
        on its requester, and the specialists working on it are told."""
        consult = change.consult
        await self._end_hold(change)
        consult.status = ConsultStatus.ACCEPTED.value
        change.event("info_provided", due_at=consult.due_at)
        assignees = await users_of(change.repo, sorted(change.assignees))
        if assignees:
            await self._tell(change, "info_provided", assignees, str(consult.version))

    async def _tell_requester(self, change: Change, kind: str, detail: str) -> None:
        """Queue a message to the requesting doctor, in the same transaction."""
        requester = await change.uow.session.get(User, change.consult.requester_id)
        if requester is not None:
            await self._tell(change, kind, [requester], detail)

    async def _tell(
        self,
        change: Change,
        kind: str,
        users: list[User],
        detail: str | Callable[[str], str],
        key: str | None = None,
    ) -> None:
        """Queue a message to each user (once, if listed twice), in the same transaction;
        `key` makes it once only (by default every call is a new message)."""
        consult = change.consult
        users = list({user.id: user for user in users}.values())
        key = key or f"consult:{consult.id}:{kind}:v{consult.version}:{new_id()[:8]}"
        await Outbox(change.uow.session).queue(
            consult_messages(
                kind,
                key,
                consult.id,
                users,
                self._clock(),
                detail,
                self._settings.default_locale,
            )
        )


async def users_of(repo: ConsultRepository, practitioner_ids: Iterable[str]) -> list[User]:
    """The accounts of practitioners, in the order given, each once."""
    out: dict[str, User] = {}
    for practitioner_id in practitioner_ids:
        found = await repo.practitioner_with_user(practitioner_id)
        if found is not None:
            out.setdefault(found[1].id, found[1])
    return list(out.values())


async def on_call_users(
    repo: ConsultRepository, consult: ConsultRequest, now: datetime
) -> list[User]:
    """The specialist on call for the consult's specialty now, if any."""
    shifts = await repo.on_call(consult.specialty_code, consult.target_facility_id, now)
    return await users_of(repo, [shifts[0].practitioner_id]) if shifts else []
