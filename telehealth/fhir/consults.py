"""Consults over FHIR: reads, the `$everything` export and two searches, under the
consult's own access rules.

Only callers who see a consult's clinical content (policy `Access.CLINICAL`: the
requester, the care team, the assignees, the queue's specialists while it waits) see
anything here; everyone else, an admin who is not a party included, gets the 404 of a
missing record, since every resource here is clinical. A draft is its author's alone.
Reads are audited as `consult.read`, like GET /api/v1/consults/{id}.

The export's Patient follows /fhir/Patient's rule (`may_view_patient`): a party who may
not read the patient record -- a specialist of the hub hospital -- gets its clinical part
(name, sex, birth date, home facility) but no identifiers, phone or address.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts.schemas import PatientOut
from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.policy import may_view_patient
from telehealth.auth.principal import Principal
from telehealth.consults import policy
from telehealth.consults.models import (
    ConsultAssignee,
    ConsultAttachment,
    ConsultMessage,
    ConsultOpinion,
    ConsultRequest,
)
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import NotFound
from telehealth.fhir import consult_resources as cr
from telehealth.fhir import mapping
from telehealth.fhir.consult_rows import ConsultRows, Row

R = TypeVar("R")
REFERENCE_RE = re.compile(r"^(Practitioner|Organization)/([A-Za-z0-9\-.]{1,64})$")
# Entry order of the export: the request and its state first, then who and what.
ORDER = (
    "ServiceRequest",
    "Task",
    "Patient",
    "Practitioner",
    "Organization",
    "Communication",
    "DocumentReference",
    "Composition",
)


@dataclass(frozen=True)
class _Found:
    """A consult the caller may see, with its assignees."""

    consult: ConsultRequest
    assignees: list[ConsultAssignee]


class FhirConsults:
    """Consults as FHIR resources for the callers who see their clinical content."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        public_url: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._fhir_url = public_url.rstrip("/") + "/fhir"
        self._api_url = public_url.rstrip("/") + "/api/v1"
        self._clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessionmaker)

    async def service_request(
        self, principal: Principal, ctx: AuditContext, consult_id: str
    ) -> Resource:
        """The consult request."""
        return await self._read(principal, ctx, "ServiceRequest", consult_id, cr.service_request)

    async def task(self, principal: Principal, ctx: AuditContext, consult_id: str) -> Resource:
        """The state of the work on the consult."""
        return await self._read(principal, ctx, "Task", consult_id, cr.task)

    async def communication(
        self, principal: Principal, ctx: AuditContext, message_id: str
    ) -> Resource:
        """One message of a consult."""

        def render(record: cr.ConsultRecord) -> Resource:
            return cr.communication(record, _one(record.messages, message_id))

        return await self._read(principal, ctx, "Communication", message_id, render)

    async def document_reference(
        self, principal: Principal, ctx: AuditContext, attachment_id: str
    ) -> Resource:
        """One file of a consult."""

        def render(record: cr.ConsultRecord) -> Resource:
            found = _one(record.attachments, attachment_id)
            return cr.document_reference(record, found, self._api_url)

        return await self._read(principal, ctx, "DocumentReference", attachment_id, render)

    async def composition(
        self, principal: Principal, ctx: AuditContext, opinion_id: str
    ) -> Resource:
        """One signed version of a consult's opinion."""

        def render(record: cr.ConsultRecord) -> Resource:
            return cr.composition(record, _one(record.opinions, opinion_id))

        return await self._read(principal, ctx, "Composition", opinion_id, render)

    async def everything(self, principal: Principal, ctx: AuditContext, consult_id: str) -> Bundle:
        """The whole consult as a `collection` Bundle whose references all resolve in it."""
        async with self._uow() as uow:
            rows = ConsultRows(uow.session)
            found = await self._visible(rows, principal, consult_id)
            if found is None:
                raise NotFound("No such ServiceRequest.")
            record = await rows.record(found.consult, found.assignees)
            patient = await rows.patient(record.patient.id)
            whole = patient is not None and may_view_patient(principal, patient)
            if not whole:
                record = dataclasses.replace(record, patient=_clinical_view(record.patient))
            resources = await self._closed(rows, _own_resources(record, self._api_url))
            bundle = mapping.bundle("collection", resources, self._fhir_url, self._clock())
            log = AuditLog(uow.session, ctx)
            await log.record(
                "consult.read",
                "consult",
                consult_id,
                _via(f"ServiceRequest/{consult_id}/$everything"),
            )
            # The export carries the Patient resource: whole (identifiers and contact
            # included) for those /fhir/Patient would show it to, its clinical part else.
            details: dict[str, Any] = {"via": "fhir", "consult": consult_id}
            if not whole:
                details["part"] = "clinical"
            await log.record("patient.read", "patient", record.patient.id, details)
            await uow.commit()
            return bundle

    async def search_requests(
        self, principal: Principal, ctx: AuditContext, patient_id: str, count: int
    ) -> Bundle:
        """A patient's consults the caller may see, newest first."""
        async with self._uow() as uow:
            rows = ConsultRows(uow.session)
            viewer = await rows.viewer(principal)
            consults = await rows.consults_of_patient(patient_id)
            teams = await rows.assignees([c.id for c in consults])
            visible = [c for c in consults if _clinical(viewer, c, teams.get(c.id, []))]
            resources: list[Resource] = []
            log = AuditLog(uow.session, ctx)
            for consult in visible[:count]:
                record = await rows.record(consult, teams.get(consult.id, []))
                resources.append(cr.service_request(record))
                await log.record(
                    "consult.read", "consult", consult.id, _via("ServiceRequest?patient")
                )
            url = f"{self._fhir_url}/ServiceRequest?patient={patient_id}"
            bundle = self._searchset(resources, len(visible), url)
            await uow.commit()
            return bundle

    async def search_messages(
        self, principal: Principal, ctx: AuditContext, consult_id: str, count: int
    ) -> Bundle:
        """A consult's messages, oldest first; none for a consult the caller may not see."""
        url = f"{self._fhir_url}/Communication?based-on=ServiceRequest/{consult_id}"
        async with self._uow() as uow:
            rows = ConsultRows(uow.session)
            found = await self._visible(rows, principal, consult_id)
            if found is None:
                return self._searchset([], 0, url)
            record = await rows.record(found.consult, found.assignees)
            messages: list[Resource] = [
                cr.communication(record, m) for m in record.messages[:count]
            ]
            bundle = self._searchset(messages, len(record.messages), url)
            await AuditLog(uow.session, ctx).record(
                "consult.read", "consult", consult_id, _via("Communication?based-on")
            )
            await uow.commit()
            return bundle

    def _searchset(self, resources: list[Resource], total: int, url: str) -> Bundle:
        return mapping.bundle(
            "searchset", resources, self._fhir_url, self._clock(), total=total, self_url=url
        )

    async def _read(
        self,
        principal: Principal,
        ctx: AuditContext,
        resource_type: str,
        row_id: str,
        render: Callable[[cr.ConsultRecord], R],
    ) -> R:
        """Render the consult that `row_id` is (or, for a message, file or opinion, belongs
        to) if the caller sees its clinical content; audited."""
        part = PART_MODELS.get(resource_type)
        async with self._uow() as uow:
            rows = ConsultRows(uow.session)
            consult_id = await rows.consult_id_of(part, row_id) if part else row_id
            found = await self._visible(rows, principal, consult_id) if consult_id else None
            if found is None:
                raise NotFound(f"No such {resource_type}.")
            resource = render(await rows.record(found.consult, found.assignees))
            await AuditLog(uow.session, ctx).record(
                "consult.read", "consult", found.consult.id, _via(f"{resource_type}/{row_id}")
            )
            await uow.commit()
            return resource

    async def _visible(
        self, rows: ConsultRows, principal: Principal, consult_id: str
    ) -> _Found | None:
        consult = await rows.consult(consult_id)
        if consult is None:
            return None
        assignees = (await rows.assignees([consult.id])).get(consult.id, [])
        if not _clinical(await rows.viewer(principal), consult, assignees):
            return None
        return _Found(consult, assignees)

    async def _closed(self, rows: ConsultRows, resources: list[Resource]) -> list[Resource]:
        """Add the Practitioners and Organizations the resources refer to, until every
        reference resolves within the list (an Organization's `partOf` pulls in its
        parent)."""
        present = {_key(r) for r in resources}
        while True:
            wanted = {
                m.groups() for ref in _references(resources) if (m := REFERENCE_RE.match(ref))
            }
            wanted = {(kind, id_) for kind, id_ in wanted if f"{kind}/{id_}" not in present}
            added: list[Resource] = [
                mapping.practitioner(facts)
                for facts in await rows.practitioners({i for k, i in wanted if k == "Practitioner"})
            ]
            added += [
                mapping.organization(facility)
                for facility in await rows.facilities({i for k, i in wanted if k == "Organization"})
            ]
            if not added:
                break
            resources = [*resources, *added]
            present |= {_key(r) for r in added}
        return sorted(resources, key=lambda r: ORDER.index(r.get_resource_type()))


PART_MODELS: dict[str, type[Row]] = {
    "Communication": ConsultMessage,
    "DocumentReference": ConsultAttachment,
    "Composition": ConsultOpinion,
}


def _clinical_view(patient: PatientOut) -> PatientOut:
    """What a consult party who may not read the patient record (a specialist of another
    hospital) needs of the patient: who they are clinically, no identifiers or contact."""
    return patient.model_copy(
        update={"national_id": None, "insurance_number": None, "phone": None, "address": None}
    )


def _clinical(
    viewer: policy.Viewer, consult: ConsultRequest, assignees: list[ConsultAssignee]
) -> bool:
    team = {a.practitioner_id for a in assignees}
    return policy.access(viewer, consult, team) is policy.Access.CLINICAL


def _one(rows: Iterable[Any], row_id: str) -> Any:
    return next(r for r in rows if r.id == row_id)


def _via(resource: str) -> dict[str, str]:
    return {"via": "fhir", "resource": resource}


def _key(resource: Resource) -> str:
    return f"{resource.get_resource_type()}/{resource.id}"


def _own_resources(record: cr.ConsultRecord, api_url: str) -> list[Resource]:
    return [
        cr.service_request(record),
        cr.task(record),
        mapping.patient(record.patient),
        *(cr.communication(record, m) for m in record.messages),
        *(cr.document_reference(record, a, api_url) for a in record.attachments),
        *(cr.composition(record, o) for o in record.opinions),
    ]


def _references(resources: list[Resource]) -> set[str]:
    return {ref for r in resources for ref in _walk(r.model_dump())}


def _walk(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            yield ref
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
