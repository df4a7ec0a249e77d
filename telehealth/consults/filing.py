"""Filing a consult: drafts, submitting to the specialty queue, amending and cancelling."""

from __future__ import annotations

import json

from telehealth.accounts.models import Role
from telehealth.accounts.repository import AccountsRepository
from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.principal import Principal
from telehealth.consults import policy
from telehealth.consults import schemas as s
from telehealth.consults.base import (
    Change,
    ConsultServiceBase,
    by_requester,
    on_call_users,
    users_of,
)
from telehealth.consults.models import (
    OPEN_STATUSES,
    ConsultAmendment,
    ConsultRequest,
    ConsultStatus,
)
from telehealth.consults.notices import urgency_word
from telehealth.consults.repository import ConsultRepository
from telehealth.db.base import new_id
from telehealth.db.uow import UnitOfWork
from telehealth.errors import InvalidInput, NotFound

AMENDABLE = ("question", "summary", "urgency", "patient_present")
DRAFT = (ConsultStatus.DRAFT,)
CANCELLABLE = (ConsultStatus.DRAFT, *OPEN_STATUSES)


class ConsultFiling(ConsultServiceBase):
    """What the requesting doctor does with their request."""

    async def file(
        self, principal: Principal, ctx: AuditContext, data: s.ConsultCreate
    ) -> s.ConsultOut:
        """A doctor files a request for one of their facility's patients."""
        async with self._uow() as uow:
            patient = await AccountsRepository(uow.session).patient(data.patient_id)
            if patient is None or patient.home_facility_id != principal.facility_id:
                raise NotFound("No such patient at your facility.")
            await self._check_target(
                uow,
                data.specialty,
                data.target_facility_id,
                data.target_practitioner_id,
                principal.user_id,
            )
            repo = ConsultRepository(uow.session)
            consult = _draft(principal, patient.id, data)
            repo.add(consult)
            await uow.flush()
            viewer = policy.Viewer(principal, None, frozenset())
            change = Change(
                uow, repo, viewer, consult, set(), AuditLog(uow.session, ctx), self._clock
            )
            change.event("created", draft=data.draft)
            if not data.draft:
                await self._submit(change)
            await change.record(
                "consult.create",
                {"specialty": data.specialty, "urgency": data.urgency.value, "draft": data.draft},
            )
            return await change.finish()

    async def _check_target(
        self,
        uow: UnitOfWork,
        specialty: str,
        facility_id: str | None,
        practitioner_id: str | None,
        requester_id: str,
    ) -> None:
        accounts = AccountsRepository(uow.session)
        if not await accounts.known_specialties([specialty]):
            raise InvalidInput(f"Unknown specialty {specialty!r}.")
        if facility_id is not None and await accounts.facility(facility_id) is None:
            raise InvalidInput("target_facility_id names no facility.")
        if practitioner_id is not None:
            repo = ConsultRepository(uow.session)
            found = await repo.practitioner_with_user(practitioner_id)
            if found is None or specialty not in await repo.specialties(practitioner_id):
                raise InvalidInput("target_practitioner_id names no specialist of this specialty.")
            # A GP holding the specialty code answers no consult; nobody asks himself.
            user = await accounts.user(found[1].id)
            if user is None or Role.SPECIALIST not in user.role_set or user.id == requester_id:
                raise InvalidInput("target_practitioner_id names no specialist of this specialty.")

    async def _submit(self, change: Change) -> None:
        """Start the deadline; tell a named specialist, and page the specialist on call
        for urgencies that cannot wait (`page_on_submit`), once each."""
        consult = change.consult
        now = self._clock()
        consult.status = ConsultStatus.SUBMITTED.value
        consult.submitted_at = now
        consult.due_at = now + self._settings.consults.deadline(consult.urgency)
        change.event("submitted", due_at=consult.due_at)
        named = [consult.target_practitioner_id] if consult.target_practitioner_id else []
        users = await users_of(change.repo, named)
        if consult.urgency in self._settings.consults.page_on_submit:
            users += await on_call_users(change.repo, consult, now)
        if users:
            await self._tell(
                change,
                "new_request",
                users,
                urgency_word(consult.urgency),
                key=f"consult:{consult.id}:submitted",
            )

    async def _page_if_raised(self, change: Change, before: str) -> None:
        """An amendment that raises the urgency into `page_on_submit` pages the specialist
        on call and tells those working on it, once per urgency."""
        consult, paged = change.consult, self._settings.consults.page_on_submit
        if consult.urgency not in paged or before in paged:
            return
        users = await users_of(change.repo, sorted(change.assignees))
        users += await on_call_users(change.repo, consult, self._clock())
        if users:
            await self._tell(
                change,
                "escalated",
                users,
                urgency_word(consult.urgency),
                key=f"consult:{consult.id}:escalated:{consult.urgency}",
            )

    async def update_draft(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ConsultDraftUpdate
    ) -> s.ConsultOut:
        """Change a draft before it is submitted."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_requester, allowed=DRAFT, verb="edited as a draft"
        ) as change:
            consult = change.consult
            changes = data.model_dump(mode="json", exclude_unset=True)
            if "specialty" in changes:
                consult.specialty_code = changes.pop("specialty")
            for field, value in changes.items():
                setattr(consult, field, value)
            await self._check_target(
                change.uow,
                consult.specialty_code,
                consult.target_facility_id,
                consult.target_practitioner_id,
                consult.requester_id,
            )
            await change.record("consult.update_draft", {"fields": sorted(changes)})
            return await change.finish()

    async def submit(
        self, principal: Principal, ctx: AuditContext, consult_id: str
    ) -> s.ConsultOut:
        """Send a draft to the specialty queue; the deadline starts now."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_requester, allowed=DRAFT, verb="submitted"
        ) as change:
            await self._submit(change)
            await change.record("consult.submit")
            return await change.finish()

    async def amend(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ConsultAmend
    ) -> s.ConsultOut:
        """Change a submitted request; the previous values are kept in the amendment."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_requester, allowed=OPEN_STATUSES, verb="amended"
        ) as change:
            consult = change.consult
            changes = data.model_dump(mode="json", exclude_unset=True, exclude={"note"})
            if "summary" in changes:
                # The case parts left out keep their values (vital signs go as a whole).
                changes["summary"] = {**(consult.summary or {}), **changes["summary"]}
            previous = {k: getattr(consult, k) for k in changes}
            for field, value in changes.items():
                setattr(consult, field, value)
            if "urgency" in changes and consult.submitted_at is not None:
                deadline = self._settings.consults.deadline(consult.urgency)
                consult.due_at = consult.submitted_at + deadline
                consult.overdue_at = None if consult.due_at > self._clock() else consult.overdue_at
                await self._page_if_raised(change, previous["urgency"])
            consult.version += 1
            change.repo.add(
                ConsultAmendment(
                    consult_id=consult.id,
                    version=consult.version,
                    author_id=principal.user_id,
                    previous=json.loads(json.dumps(previous, default=str)),
                    changes=changes,
                    note=data.note,
                )
            )
            change.event("amended", version=consult.version, fields=sorted(changes), note=data.note)
            if consult.status == ConsultStatus.INFO_REQUESTED.value:
                await self._resume(change)  # the specialists who asked wait on this
            await change.record("consult.amend", {"version": consult.version})
            return await change.finish()

    async def cancel(
        self, principal: Principal, ctx: AuditContext, consult_id: str, data: s.ReasonIn
    ) -> s.ConsultOut:
        """The requester withdraws a request that is not answered yet."""
        async with self._changing(
            principal, ctx, consult_id, ensure=by_requester, allowed=CANCELLABLE, verb="cancelled"
        ) as change:
            change.consult.status = ConsultStatus.CANCELLED.value
            change.consult.closed_reason = data.reason
            change.event("cancelled", reason=data.reason)
            await change.record("consult.cancel")
            return await change.finish()


def _draft(principal: Principal, patient_id: str, data: s.ConsultCreate) -> ConsultRequest:
    """The new request row, a draft until it is submitted."""
    assert principal.facility_id is not None
    return ConsultRequest(
        id=new_id(),
        patient_id=patient_id,
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
