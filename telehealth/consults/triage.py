"""Triage: the specialty queues, accepting, declining, handing over, asking for more, and
marking requests that are past their deadline."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from telehealth.accounts.models import Role, User
from telehealth.accounts.repository import AccountsRepository
from telehealth.auth.audit import AuditContext, AuditLog, record_list_read
from telehealth.auth.principal import Principal
from telehealth.consults import policy
from telehealth.consults import schemas as s
from telehealth.consults.base import (
    ACTIVE,
    ConsultServiceBase,
    add_event,
    by_assignee,
    by_decliner,
    by_triage,
    on_call_users,
)
from telehealth.consults.models import (
    OPEN_STATUSES,
    ConsultAssignee,
    ConsultMessage,
    ConsultRequest,
    ConsultStatus,
)
from telehealth.consults.notices import consult_messages, urgency_word
from telehealth.consults.render import render_consults
from telehealth.consults.repository import ConsultRepository
from telehealth.db.uow import UnitOfWork
from telehealth.errors import Forbidden, InvalidInput
from telehealth.outbox.writer import Outbox

DEADLINE_WATCH = AuditContext(client_address="deadline-watch")


class ConsultTriage(ConsultServiceBase):
    """What the specialists of a queue do with the requests waiting in it."""

    async def accept(
        self, principal: Principal, ctx: AuditContext, consult_id: str
    ) -> s.ConsultOut:
        """A specialist of the queue takes the request (or joins it, if already taken)."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_triage, allowed=OPEN_STATUSES, verb="accepted"
        ) as change:
            consult, practitioner_id = change.consult, change.viewer.practitioner_id
            assert practitioner_id is not None
            if practitioner_id not in change.assignees:
                change.repo.add(
                    ConsultAssignee(
                        consult_id=consult.id,
                        practitioner_id=practitioner_id,
                        lead=not change.assignees,
                        joined_at=self._clock(),
                    )
                )
            if consult.status == ConsultStatus.SUBMITTED.value:
                consult.status = ConsultStatus.ACCEPTED.value
            change.event("accepted", practitioner_id=practitioner_id)
            await change.record("consult.accept")
            return await change.finish()

    async def decline(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ReasonIn
    ) -> s.ConsultOut:
        """Decline with a reason: a request named to this specialist returns to the
        specialty queue; otherwise the specialty declines it and the requester is told."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_decliner, allowed=OPEN_STATUSES, verb="declined"
        ) as change:
            consult, practitioner_id = change.consult, change.viewer.practitioner_id
            back_to_queue = (
                consult.target_practitioner_id is not None
                and consult.target_practitioner_id == practitioner_id
            )
            if back_to_queue:
                consult.target_practitioner_id = None
                if practitioner_id:
                    await change.repo.remove_assignee(consult.id, practitioner_id)
                # Colleagues the named specialist brought in keep working on it.
                if not change.assignees - {practitioner_id}:
                    consult.status = ConsultStatus.SUBMITTED.value
            else:
                consult.status = ConsultStatus.DECLINED.value
                consult.closed_reason = data.reason
                await self._tell_requester(change, "declined", "")
            change.event("declined", reason=data.reason, back_to_queue=back_to_queue)
            await change.record("consult.decline")
            return await change.finish()

    async def assign(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.AssignIn
    ) -> s.ConsultOut:
        """Hand the consult to a colleague, or add one (multi-disciplinary)."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_assignee, allowed=ACTIVE, verb="assigned"
        ) as change:
            colleague = await change.repo.practitioner_with_user(data.practitioner_id)
            if colleague is None or not await self._is_specialist(change.uow, colleague[1].id):
                raise InvalidInput("practitioner_id names no specialist.")
            if data.practitioner_id not in change.assignees:
                change.repo.add(
                    ConsultAssignee(
                        consult_id=change.consult.id,
                        practitioner_id=data.practitioner_id,
                        lead=data.mode == "reassign",
                        joined_at=self._clock(),
                    )
                )
            leaving = change.viewer.practitioner_id
            if data.mode == "reassign" and leaving != data.practitioner_id:
                assert leaving is not None
                await change.repo.remove_assignee(change.consult.id, leaving)
            change.event(f"assign_{data.mode}", practitioner_id=data.practitioner_id)
            if data.practitioner_id not in change.assignees:
                await self._tell(
                    change,
                    "assigned",
                    [colleague[1]],
                    urgency_word(change.consult.urgency),
                )
            await change.record(
                "consult.assign", {"practitioner_id": data.practitioner_id, "mode": data.mode}
            )
            return await change.finish()

    async def _is_specialist(self, uow: UnitOfWork, user_id: str) -> bool:
        loaded = await AccountsRepository(uow.session).user(user_id)
        return loaded is not None and Role.SPECIALIST.value in {r.role for r in loaded.roles}

    async def request_info(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.InfoRequestIn
    ) -> s.ConsultOut:
        """Ask the requester for more; the request waits on them until they amend or reply."""
        async with self._changing(
            principal,
            ctx,
            consult_id,
            ensure=by_assignee,
            allowed=(ConsultStatus.ACCEPTED,),
            verb="put on hold for information",
        ) as change:
            change.consult.status = ConsultStatus.INFO_REQUESTED.value
            change.repo.add(
                ConsultMessage(
                    consult_id=change.consult.id,
                    author_id=principal.user_id,
                    text=data.question,
                    created_at=self._clock(),
                )
            )
            change.event("info_requested", question=data.question)
            await self._tell_requester(change, "info_requested", "")
            await change.record("consult.request_info")
            return await change.finish()

    async def list_consults(
        self, principal: Principal, ctx: AuditContext, query: s.ConsultQuery
    ) -> s.ConsultPage:
        """`queue=specialty`: the caller's specialty queues by deadline; `queue=mine`: own
        requests and consults one works on. One audit event names the consults shown."""
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            if query.queue == "specialty":
                if not principal.has(Role.SPECIALIST):
                    raise Forbidden("Only specialists have a queue.")
                status = query.status.value if query.status else None
                page = await repo.queue(viewer, status, query.limit, query.cursor)
            else:
                page = await repo.page(_mine(viewer, query), query.limit, query.cursor)
            items = await render_consults(uow.session, list(page.items), viewer)
        await record_list_read(
            self._sessionmaker, ctx, "consult.list", [c.id for c in items], queue=query.queue
        )
        return s.ConsultPage(items=items, next=page.next)

    async def mark_overdue(self, limit: int = 100) -> int:
        """Mark requests past their deadline and tell the on-call specialist and the
        requester, once: the mark and the messages commit together."""
        now = self._clock()
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            overdue = await repo.overdue(now, limit)
            for consult in overdue:
                consult.overdue_at = now
                add_event(repo, consult, self._clock(), None, "overdue", due_at=consult.due_at)
                recipients = await on_call_users(repo, consult, now)
                requester = await uow.session.get(User, consult.requester_id)
                users = [u for u in [*recipients, requester] if u is not None]
                await Outbox(uow.session).queue(
                    consult_messages(
                        "overdue",
                        # Once per deadline: an amendment may set a later one, which
                        # may pass in its turn.
                        f"consult:{consult.id}:overdue:{consult.due_at}",
                        consult.id,
                        users,
                        now,
                        urgency_word(consult.urgency),
                        self._settings.default_locale,
                    )
                )
                await AuditLog(uow.session, DEADLINE_WATCH).record(
                    "consult.overdue",
                    "consult",
                    consult.id,
                    {"notified": sorted(u.id for u in users)},
                )
            await uow.commit()
            return len(overdue)


def _mine(viewer: policy.Viewer, query: s.ConsultQuery) -> ColumnElement[bool]:
    """Own requests, consults one is assigned to, and everything for admins."""
    p = viewer.principal
    conditions: list[ColumnElement[bool]] = [ConsultRequest.requester_id == p.user_id]
    if viewer.practitioner_id:
        conditions.append(
            ConsultRequest.id.in_(
                select(ConsultAssignee.consult_id).where(
                    ConsultAssignee.practitioner_id == viewer.practitioner_id
                )
            )
        )
    if p.has(Role.ADMIN):
        conditions.append(true())
    scope = or_(*conditions) if conditions else false()
    if query.status:
        return and_(scope, ConsultRequest.status == query.status.value)
    return scope
