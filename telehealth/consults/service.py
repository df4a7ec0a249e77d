"""Consult use cases, one unit of work each: filing, triage, answers and deadlines."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts.models import Facility, Patient, Role, User
from telehealth.accounts.repository import AccountsRepository
from telehealth.accounts.schemas import FacilityRef
from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.consults import policy
from telehealth.consults import schemas as s
from telehealth.consults.models import (
    OPEN_STATUSES,
    ConsultAmendment,
    ConsultAssignee,
    ConsultEvent,
    ConsultMessage,
    ConsultOpinion,
    ConsultRequest,
    ConsultStatus,
)
from telehealth.consults.notices import consult_messages
from telehealth.consults.repository import ConsultRepository
from telehealth.db.base import new_id, utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from telehealth.outbox.writer import Outbox
from telehealth.scheduling.schemas import PersonRef

AMENDABLE = ("question", "summary", "urgency", "patient_present")


def _transition_error(consult: ConsultRequest, verb: str) -> Conflict:
    return Conflict(
        f"A consult that is {consult.status} cannot be {verb}.", code=ErrorCode.INVALID_TRANSITION
    )


def _require(consult: ConsultRequest, allowed: tuple[ConsultStatus, ...], verb: str) -> None:
    if consult.status not in {a.value for a in allowed}:
        raise _transition_error(consult, verb)


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


class ConsultService:
    """Requests, the specialty queues, triage, messages, opinions and deadlines."""

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
        practitioner = await repo.practitioner_of_user(principal.user_id)
        specialties = await repo.specialties(practitioner.id) if practitioner else frozenset()
        return policy.Viewer(principal, practitioner.id if practitioner else None, specialties)

    async def _load(
        self, repo: ConsultRepository, viewer: policy.Viewer, consult_id: str, lock: bool = False
    ) -> tuple[ConsultRequest, set[str]]:
        consult = await repo.consult(consult_id, lock=lock)
        assignees = (
            {a.practitioner_id for a in (await repo.assignees([consult.id])).get(consult.id, [])}
            if consult
            else set()
        )
        policy.ensure_clinical(viewer, consult, assignees)
        assert consult is not None
        return consult, assignees

    def _event(
        self,
        repo: ConsultRepository,
        consult: ConsultRequest,
        actor: str | None,
        kind: str,
        **data: Any,
    ) -> None:
        repo.add(
            ConsultEvent(
                id=new_id(),
                consult_id=consult.id,
                at=self._clock(),
                actor_id=actor,
                kind=kind,
                data=json.loads(json.dumps(data, default=str)),
            )
        )

    # -- filing -------------------------------------------------------------------------

    async def file(
        self, principal: Principal, ctx: AuditContext, data: s.ConsultCreate
    ) -> s.ConsultOut:
        """A doctor files a request for one of their facility's patients."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            accounts = AccountsRepository(uow.session)
            patient = await accounts.patient(data.patient_id)
            if patient is None or patient.home_facility_id != principal.facility_id:
                raise NotFound("No such patient at your facility.")
            await self._check_target(
                uow, data.specialty, data.target_facility_id, data.target_practitioner_id
            )
            assert principal.facility_id is not None
            consult = ConsultRequest(
                id=new_id(),
                patient_id=patient.id,
                requester_id=principal.user_id,
                requesting_facility_id=principal.facility_id,
                specialty_code=data.specialty,
                target_facility_id=data.target_facility_id,
                target_practitioner_id=data.target_practitioner_id,
                urgency=data.urgency.value,
                question=data.question,
                summary=data.summary.model_dump(mode="json"),
                patient_present=data.patient_present,
                status=ConsultStatus.DRAFT.value,
                version=1,
            )
            repo.add(consult)
            await uow.flush()
            self._event(repo, consult, principal.user_id, "created", draft=data.draft)
            if not data.draft:
                self._submit(repo, consult, principal)
            await AuditLog(uow.session, ctx).record(
                "consult.create",
                "consult",
                consult.id,
                {"specialty": data.specialty, "urgency": data.urgency.value, "draft": data.draft},
            )
            out = await self._render(uow, [consult], policy.Viewer(principal, None, frozenset()))
            await uow.commit()
            return out[0]

    async def _check_target(
        self, uow: UnitOfWork, specialty: str, facility_id: str | None, practitioner_id: str | None
    ) -> None:
        accounts = AccountsRepository(uow.session)
        if not await accounts.known_specialties([specialty]):
            raise InvalidInput(f"Unknown specialty {specialty!r}.")
        if facility_id is not None:
            facility = await accounts.facility(facility_id)
            if facility is None:
                raise InvalidInput("target_facility_id names no facility.")
        if practitioner_id is not None:
            repo = ConsultRepository(uow.session)
            found = await repo.practitioner_with_user(practitioner_id)
            if found is None or specialty not in await repo.specialties(practitioner_id):
                raise InvalidInput("target_practitioner_id names no specialist of this specialty.")

    def _submit(
        self, repo: ConsultRepository, consult: ConsultRequest, principal: Principal
    ) -> None:
        now = self._clock()
        consult.status = ConsultStatus.SUBMITTED.value
        consult.submitted_at = now
        consult.due_at = now + self._settings.consults.deadline(consult.urgency)
        self._event(repo, consult, principal.user_id, "submitted", due_at=consult.due_at)

    async def update_draft(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ConsultDraftUpdate
    ) -> s.ConsultOut:
        """Change a draft before it is submitted."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, _ = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_requester(viewer, consult)
            _require(consult, (ConsultStatus.DRAFT,), "edited as a draft")
            changes = data.model_dump(mode="json", exclude_unset=True)
            if "specialty" in changes:
                consult.specialty_code = changes.pop("specialty")
            for field, value in changes.items():
                setattr(consult, field, value)
            await self._check_target(
                uow,
                consult.specialty_code,
                consult.target_facility_id,
                consult.target_practitioner_id,
            )
            await AuditLog(uow.session, ctx).record(
                "consult.update_draft", "consult", consult.id, {"fields": sorted(changes)}
            )
            return await self._finish(uow, consult, viewer)

    async def submit(
        self, principal: Principal, ctx: AuditContext, consult_id: str
    ) -> s.ConsultOut:
        """Send a draft to the specialty queue; the deadline starts now."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, _ = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_requester(viewer, consult)
            _require(consult, (ConsultStatus.DRAFT,), "submitted")
            self._submit(repo, consult, principal)
            await AuditLog(uow.session, ctx).record("consult.submit", "consult", consult.id)
            return await self._finish(uow, consult, viewer)

    async def amend(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ConsultAmend
    ) -> s.ConsultOut:
        """Change a submitted request; the previous values are kept in the amendment."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, _ = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_requester(viewer, consult)
            _require(consult, OPEN_STATUSES, "amended")
            changes = data.model_dump(mode="json", exclude_unset=True, exclude={"note"})
            previous = {k: getattr(consult, k) for k in changes}
            for field, value in changes.items():
                setattr(consult, field, value)
            if "urgency" in changes and consult.submitted_at is not None:
                consult.due_at = consult.submitted_at + self._settings.consults.deadline(
                    consult.urgency
                )
                consult.overdue_at = None if consult.due_at > self._clock() else consult.overdue_at
            consult.version += 1
            repo.add(
                ConsultAmendment(
                    consult_id=consult.id,
                    version=consult.version,
                    author_id=principal.user_id,
                    previous=json.loads(json.dumps(previous, default=str)),
                    changes=changes,
                    note=data.note,
                )
            )
            if consult.status == ConsultStatus.INFO_REQUESTED.value:
                consult.status = ConsultStatus.ACCEPTED.value
            self._event(
                repo,
                consult,
                principal.user_id,
                "amended",
                version=consult.version,
                fields=sorted(changes),
                note=data.note,
            )
            await AuditLog(uow.session, ctx).record(
                "consult.amend", "consult", consult.id, {"version": consult.version}
            )
            return await self._finish(uow, consult, viewer)

    async def cancel(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ReasonIn
    ) -> s.ConsultOut:
        """The requester withdraws a request that is not answered yet."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, _ = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_requester(viewer, consult)
            _require(consult, (ConsultStatus.DRAFT, *OPEN_STATUSES), "cancelled")
            consult.status = ConsultStatus.CANCELLED.value
            consult.closed_reason = data.reason
            self._event(repo, consult, principal.user_id, "cancelled", reason=data.reason)
            await AuditLog(uow.session, ctx).record("consult.cancel", "consult", consult.id)
            return await self._finish(uow, consult, viewer)

    # -- triage -------------------------------------------------------------------------

    async def accept(
        self, principal: Principal, ctx: AuditContext, consult_id: str
    ) -> s.ConsultOut:
        """A specialist of the queue takes the request (or joins it, if already taken)."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, assignees = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_triage(viewer, consult, assignees)
            _require(consult, OPEN_STATUSES, "accepted")
            assert viewer.practitioner_id is not None
            if viewer.practitioner_id not in assignees:
                repo.add(
                    ConsultAssignee(
                        consult_id=consult.id,
                        practitioner_id=viewer.practitioner_id,
                        lead=not assignees,
                        joined_at=self._clock(),
                    )
                )
            if consult.status == ConsultStatus.SUBMITTED.value:
                consult.status = ConsultStatus.ACCEPTED.value
            self._event(
                repo, consult, principal.user_id, "accepted", practitioner_id=viewer.practitioner_id
            )
            await AuditLog(uow.session, ctx).record("consult.accept", "consult", consult.id)
            return await self._finish(uow, consult, viewer)

    async def decline(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ReasonIn
    ) -> s.ConsultOut:
        """Decline with a reason: a request named to this specialist returns to the
        specialty queue; otherwise the specialty declines it and the requester is told."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, assignees = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_triage(viewer, consult, assignees)
            _require(consult, OPEN_STATUSES, "declined")
            back_to_queue = (
                consult.target_practitioner_id is not None
                and consult.target_practitioner_id == viewer.practitioner_id
            )
            if back_to_queue:
                consult.target_practitioner_id = None
                if viewer.practitioner_id:
                    await repo.remove_assignee(consult.id, viewer.practitioner_id)
                consult.status = ConsultStatus.SUBMITTED.value
            else:
                consult.status = ConsultStatus.DECLINED.value
                consult.closed_reason = data.reason
                await self._tell_requester(uow, consult, "declined", data.reason)
            self._event(
                repo,
                consult,
                principal.user_id,
                "declined",
                reason=data.reason,
                back_to_queue=back_to_queue,
            )
            await AuditLog(uow.session, ctx).record("consult.decline", "consult", consult.id)
            return await self._finish(uow, consult, viewer)

    async def assign(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.AssignIn
    ) -> s.ConsultOut:
        """Hand the consult to a colleague, or add one (multi-disciplinary)."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, assignees = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_assignee(viewer, assignees)
            _require(consult, (*OPEN_STATUSES, ConsultStatus.ANSWERED), "assigned")
            colleague = await repo.practitioner_with_user(data.practitioner_id)
            if colleague is None or Role.SPECIALIST.value not in await self._roles(
                uow, colleague[1]
            ):
                raise InvalidInput("practitioner_id names no specialist.")
            if data.practitioner_id not in assignees:
                repo.add(
                    ConsultAssignee(
                        consult_id=consult.id,
                        practitioner_id=data.practitioner_id,
                        lead=data.mode == "reassign",
                        joined_at=self._clock(),
                    )
                )
            if data.mode == "reassign" and viewer.practitioner_id != data.practitioner_id:
                assert viewer.practitioner_id is not None
                await repo.remove_assignee(consult.id, viewer.practitioner_id)
            self._event(
                repo,
                consult,
                principal.user_id,
                f"assign_{data.mode}",
                practitioner_id=data.practitioner_id,
            )
            await AuditLog(uow.session, ctx).record(
                "consult.assign",
                "consult",
                consult.id,
                {"practitioner_id": data.practitioner_id, "mode": data.mode},
            )
            return await self._finish(uow, consult, viewer)

    async def _roles(self, uow: UnitOfWork, user: User) -> set[str]:
        loaded = await AccountsRepository(uow.session).user(user.id)
        return {r.role for r in loaded.roles} if loaded else set()

    async def request_info(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.InfoRequestIn
    ) -> s.ConsultOut:
        """Ask the requester for more; the request waits on them until they amend or reply."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, assignees = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_assignee(viewer, assignees)
            _require(consult, (ConsultStatus.ACCEPTED,), "put on hold for information")
            consult.status = ConsultStatus.INFO_REQUESTED.value
            repo.add(
                ConsultMessage(
                    consult_id=consult.id,
                    author_id=principal.user_id,
                    text=data.question,
                    created_at=self._clock(),
                )
            )
            self._event(repo, consult, principal.user_id, "info_requested", question=data.question)
            await self._tell_requester(uow, consult, "info_requested", data.question[:200])
            await AuditLog(uow.session, ctx).record("consult.request_info", "consult", consult.id)
            return await self._finish(uow, consult, viewer)

    async def post_message(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.MessageIn
    ) -> s.TimelineEntry:
        """A message between the parties; a requester's reply ends an information hold."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, _ = await self._load(repo, viewer, consult_id, lock=True)
            if consult.status in {ConsultStatus.DRAFT.value, ConsultStatus.CANCELLED.value}:
                raise _transition_error(consult, "discussed")
            message = ConsultMessage(
                id=new_id(),
                consult_id=consult.id,
                author_id=principal.user_id,
                text=data.text,
                created_at=self._clock(),
            )
            repo.add(message)
            if (
                consult.status == ConsultStatus.INFO_REQUESTED.value
                and consult.requester_id == principal.user_id
            ):
                consult.status = ConsultStatus.ACCEPTED.value
            self._event(
                repo, consult, principal.user_id, "message", message_id=message.id, text=data.text
            )
            await AuditLog(uow.session, ctx).record(
                "consult.message", "consult", consult.id, {"message_id": message.id}
            )
            await uow.commit()
            return s.TimelineEntry(
                id=message.id,
                at=message.created_at,
                kind="message",
                actor=PersonRef(id=principal.user_id, full_name=principal.full_name),
                data={"text": data.text},
            )

    # -- answers ------------------------------------------------------------------------

    async def sign_opinion(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.OpinionIn
    ) -> s.ConsultOut:
        """Sign a written opinion; a later one is a new version that needs a reason."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, assignees = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_assignee(viewer, assignees)
            _require(
                consult,
                (ConsultStatus.ACCEPTED, ConsultStatus.INFO_REQUESTED, ConsultStatus.ANSWERED),
                "answered",
            )
            versions = await repo.opinions(consult.id)
            if versions and not data.amendment_reason:
                raise InvalidInput("An amended opinion needs an amendment_reason.")
            if data.transfer_facility_id and not await AccountsRepository(uow.session).facility(
                data.transfer_facility_id
            ):
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
            repo.add(opinion)
            consult.status = ConsultStatus.ANSWERED.value
            consult.answered_at = consult.answered_at or opinion.signed_at
            self._event(
                repo,
                consult,
                principal.user_id,
                "opinion_signed",
                version=opinion.version,
                content_hash=opinion.content_hash,
            )
            await self._tell_requester(uow, consult, "answered", str(opinion.version))
            await AuditLog(uow.session, ctx).record(
                "consult.opinion",
                "consult",
                consult.id,
                {"version": opinion.version, "content_hash": opinion.content_hash},
            )
            return await self._finish(uow, consult, viewer)

    async def schedule_session(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ScheduleIn
    ) -> s.ConsultOut:
        """Set a time for a live session with the parties (the room comes with live rooms)."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult, assignees = await self._load(repo, viewer, consult_id, lock=True)
            policy.ensure_assignee(viewer, assignees)
            _require(consult, (*OPEN_STATUSES, ConsultStatus.ANSWERED), "scheduled")
            if data.start <= self._clock():
                raise InvalidInput("The session must start in the future.")
            consult.session_at = data.start
            self._event(repo, consult, principal.user_id, "session_scheduled", start=data.start)
            await AuditLog(uow.session, ctx).record(
                "consult.schedule", "consult", consult.id, {"start": data.start.isoformat()}
            )
            return await self._finish(uow, consult, viewer)

    # -- reading ------------------------------------------------------------------------

    async def get(self, principal: Principal, ctx: AuditContext, consult_id: str) -> s.ConsultOut:
        """One consult: clinical content for parties, metadata for admins; audited."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            consult = await repo.consult(consult_id)
            assignees = (
                {
                    a.practitioner_id
                    for a in (await repo.assignees([consult_id])).get(consult_id, [])
                }
                if consult
                else set()
            )
            if consult is None or policy.access(viewer, consult, assignees) is policy.Access.NONE:
                raise NotFound("No such consult.")
            await AuditLog(uow.session, ctx).record("consult.read", "consult", consult.id)
            out = (await self._render(uow, [consult], viewer))[0]
            await uow.commit()
            return out

    async def timeline(self, principal: Principal, consult_id: str) -> s.TimelineOut:
        """Every state change, message, attachment and opinion, oldest first."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            await self._load(repo, viewer, consult_id)
            events = await repo.events(consult_id)
            users = await AccountsRepository(uow.session).users_by_ids(
                {e.actor_id for e in events if e.actor_id}
            )
            return s.TimelineOut(
                items=[
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
            )

    async def opinions(self, principal: Principal, consult_id: str) -> list[s.OpinionOut]:
        """Every signed version of the opinion."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            await self._load(repo, viewer, consult_id)
            rows = await repo.opinions(consult_id)
            users = await AccountsRepository(uow.session).users_by_ids({o.author_id for o in rows})
            return [_opinion_out(o, users) for o in rows]

    async def list_consults(self, principal: Principal, query: s.ConsultQuery) -> s.ConsultPage:
        """`queue=specialty`: the caller's specialty queues by deadline; `queue=mine`: own
        requests and consults one works on."""
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            viewer = await self._viewer(repo, principal)
            if query.queue == "specialty":
                if not principal.has(Role.SPECIALIST):
                    raise Forbidden("Only specialists have a queue.")
                rows = await repo.queue(
                    viewer.specialties,
                    principal.facility_id,
                    viewer.practitioner_id,
                    query.status.value if query.status else None,
                    query.limit,
                )
                return s.ConsultPage(items=await self._render(uow, rows, viewer), next=None)
            page = await repo.page(self._mine(viewer, query), query.limit, query.cursor)
            items = await self._render(uow, list(page.items), viewer)
            return s.ConsultPage(items=items, next=page.next)

    def _mine(self, viewer: policy.Viewer, query: s.ConsultQuery) -> ColumnElement[bool]:
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

    # -- deadlines ------------------------------------------------------------------------

    async def mark_overdue(self, limit: int = 100) -> int:
        """Mark requests past their deadline and tell the on-call specialist and the
        requester, once: the mark and the messages commit together."""
        now = self._clock()
        async with self._uow() as uow:
            repo = ConsultRepository(uow.session)
            overdue = await repo.overdue(now, limit)
            for consult in overdue:
                consult.overdue_at = now
                self._event(repo, consult, None, "overdue", due_at=consult.due_at)
                recipients = await self._on_call_users(uow, consult, now)
                requester = await uow.session.get(User, consult.requester_id)
                users = [u for u in [*recipients, requester] if u is not None]
                await Outbox(uow.session).queue(
                    consult_messages(
                        "overdue",
                        f"consult:{consult.id}:overdue",
                        consult.id,
                        users,
                        now,
                        consult.urgency,
                        self._settings.default_locale,
                    )
                )
                await AuditLog(uow.session, AuditContext(client_address="deadline-watch")).record(
                    "consult.overdue",
                    "consult",
                    consult.id,
                    {"notified": sorted(u.id for u in users)},
                )
            await uow.commit()
            return len(overdue)

    async def _on_call_users(
        self, uow: UnitOfWork, consult: ConsultRequest, now: datetime
    ) -> list[User]:
        repo = ConsultRepository(uow.session)
        shifts = await repo.on_call(consult.specialty_code, consult.target_facility_id, now)
        if not shifts:
            return []
        found = await repo.practitioner_with_user(shifts[0].practitioner_id)
        return [found[1]] if found else []

    # -- plumbing -------------------------------------------------------------------------

    async def _tell_requester(
        self, uow: UnitOfWork, consult: ConsultRequest, kind: str, detail: str
    ) -> None:
        requester = await uow.session.get(User, consult.requester_id)
        if requester is None:
            return
        key = f"consult:{consult.id}:{kind}:v{consult.version}:{new_id()[:8]}"
        await Outbox(uow.session).queue(
            consult_messages(
                kind,
                key,
                consult.id,
                [requester],
                self._clock(),
                detail,
                self._settings.default_locale,
            )
        )

    async def _finish(
        self, uow: UnitOfWork, consult: ConsultRequest, viewer: policy.Viewer
    ) -> s.ConsultOut:
        await uow.flush()
        out = (await self._render(uow, [consult], viewer))[0]
        await uow.commit()
        return out

    async def _render(
        self, uow: UnitOfWork, consults: list[ConsultRequest], viewer: policy.Viewer
    ) -> list[s.ConsultOut]:
        repo = ConsultRepository(uow.session)
        accounts = AccountsRepository(uow.session)
        ids = [c.id for c in consults]
        assignees = await repo.assignees(ids)
        opinions = await repo.latest_opinions(ids)
        practitioner_users = {}
        for rows in assignees.values():
            for a in rows:
                found = await repo.practitioner_with_user(a.practitioner_id)
                if found:
                    practitioner_users[a.practitioner_id] = found[1]
        users = await accounts.users_by_ids(
            {c.requester_id for c in consults} | {o.author_id for o in opinions.values()}
        )
        facilities = await accounts.facilities_by_ids({c.requesting_facility_id for c in consults})
        patients = {c.patient_id: await uow.session.get(Patient, c.patient_id) for c in consults}
        out = []
        for c in consults:
            team = {a.practitioner_id for a in assignees.get(c.id, [])}
            clinical = policy.access(viewer, c, team) is policy.Access.CLINICAL
            patient = patients[c.patient_id]
            opinion = opinions.get(c.id)
            out.append(
                s.ConsultOut(
                    id=c.id,
                    status=ConsultStatus(c.status),
                    urgency=c.urgency,
                    specialty=c.specialty_code,
                    patient=PersonRef(id=patient.id, full_name=patient.full_name)
                    if clinical and patient
                    else None,
                    requester=PersonRef(
                        id=c.requester_id, full_name=users[c.requester_id].full_name
                    ),
                    requesting_facility=_ref(facilities[c.requesting_facility_id]),
                    target_facility_id=c.target_facility_id,
                    target_practitioner_id=c.target_practitioner_id,
                    assignees=[
                        s.AssigneeOut(
                            practitioner_id=a.practitioner_id,
                            lead=a.lead,
                            full_name=practitioner_users[a.practitioner_id].full_name,
                        )
                        for a in assignees.get(c.id, [])
                        if a.practitioner_id in practitioner_users
                    ],
                    question=c.question if clinical else None,
                    summary=c.summary if clinical else None,
                    patient_present=c.patient_present,
                    version=c.version,
                    submitted_at=c.submitted_at,
                    due_at=c.due_at,
                    overdue=c.overdue_at is not None,
                    answered_at=c.answered_at,
                    session_at=c.session_at,
                    room_id=c.room_id,
                    opinion=_opinion_out(opinion, users) if clinical and opinion else None,
                    clinical=clinical,
                    created_at=c.created_at,
                )
            )
        return out


def _ref(facility: Facility) -> FacilityRef:
    return FacilityRef.model_validate(facility)


def _opinion_out(opinion: ConsultOpinion, users: dict[str, User]) -> s.OpinionOut:
    author = users.get(opinion.author_id)
    return s.OpinionOut(
        id=opinion.id,
        version=opinion.version,
        author=PersonRef(id=opinion.author_id, full_name=author.full_name if author else ""),
        assessment=opinion.assessment,
        recommendations=opinion.recommendations,
        recommended_tests=opinion.recommended_tests,
        recommended_treatment=opinion.recommended_treatment,
        disposition=opinion.disposition,
        transfer_facility_id=opinion.transfer_facility_id,
        amendment_reason=opinion.amendment_reason,
        signed_at=opinion.signed_at,
        content_hash=opinion.content_hash,
    )
