"""Reads behind the FHIR resources no other use case serves: practitioners, their
schedules and slots, and facilities. Any signed-in user may read them, as they may
search practitioners and free slots through the JSON API; nothing here is audited
because nothing here is about a patient."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts.repository import AccountsRepository
from telehealth.accounts.schemas import FacilityOut, SpecialtyOut
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import NotFound
from telehealth.fhir import mapping
from telehealth.fhir import systems as fs
from telehealth.scheduling.free import DEFAULT_RANGE, PractitionerRow, weekly
from telehealth.scheduling.repository import SchedulingRepository
from telehealth.scheduling.slots import SlotTime, generate_slots, parse_slot_id, slot_id

_MINUTE = timedelta(minutes=1)


class FhirDirectory:
    """Practitioners, schedules, slots and organizations as FHIR resources (read-only)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessionmaker)

    async def organization(self, facility_id: str) -> Organization:
        """A facility."""
        async with self._uow() as uow:
            facility = await AccountsRepository(uow.session).facility(facility_id)
            if facility is None:
                raise NotFound("No such Organization.")
            return mapping.organization(FacilityOut.model_validate(facility))

    async def practitioner(self, practitioner_id: str) -> Practitioner:
        """A practitioner."""
        async with self._uow() as uow:
            return mapping.practitioner(await self._facts(uow, practitioner_id))

    async def schedule(self, practitioner_id: str) -> Schedule:
        """A practitioner's schedule; its horizon is the default slot search window."""
        async with self._uow() as uow:
            facts = await self._facts(uow, practitioner_id)
        now = self._clock()
        return mapping.schedule(facts, now, now + DEFAULT_RANGE)

    async def slot(self, fhir_id: str) -> Slot:
        """A slot the rules offer or an active appointment holds; free, busy or past."""
        practitioner_id, start = parse_slot_id(fs.slot_id_of(fhir_id))
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            row = await repo.practitioner(practitioner_id)
            if row is None:
                raise NotFound("No such Slot.")
            span = await self._offered(repo, row, start) or await self._held(repo, row, start)
            if span is None:
                raise NotFound("No such Slot.")
            taken = await repo.active_between([practitioner_id], span.start, span.end)
        if taken:
            status = fs.SLOT_BUSY
        else:
            status = fs.SLOT_FREE if span.start > self._clock() else fs.SLOT_PAST
        return mapping.slot(
            slot_id(practitioner_id, span.start), practitioner_id, span.start, span.end, status
        )

    async def _offered(
        self, repo: SchedulingRepository, row: PractitionerRow, start: datetime
    ) -> SlotTime | None:
        practitioner, user, facility = row
        if not user.active:
            return None
        rules = await repo.rules([practitioner.id])
        day = timedelta(days=1)
        blocks = await repo.blocks([practitioner.id], start - day, start + day)
        found = generate_slots(
            [weekly(r) for r in rules],
            [(b.start_at, b.end_at) for b in blocks],
            ZoneInfo(facility.timezone),
            start,
            start + _MINUTE,
        )
        return found[0] if found else None

    async def _held(
        self, repo: SchedulingRepository, row: PractitionerRow, start: datetime
    ) -> SlotTime | None:
        # A booking outlives a change of rules; its slot still exists while it is active.
        held = await repo.active_between([row[0].id], start, start + _MINUTE)
        return next((SlotTime(a.start_at, a.end_at) for a in held if a.start_at == start), None)

    async def _facts(self, uow: UnitOfWork, practitioner_id: str) -> mapping.PractitionerFacts:
        repo = SchedulingRepository(uow.session)
        row = await repo.practitioner(practitioner_id)
        if row is None:
            raise NotFound("No such Practitioner.")
        practitioner, user, _facility = row
        codes = (await repo.specialties_of([practitioner.id])).get(practitioner.id, [])
        names = await AccountsRepository(uow.session).specialties()
        return mapping.PractitionerFacts(
            id=practitioner.id,
            full_name=user.full_name,
            active=user.active,
            licence_number=practitioner.licence_number,
            specialties=[SpecialtyOut.model_validate(sp) for sp in names if sp.code in codes],
        )
