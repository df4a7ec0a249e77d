"""SQL of scheduling: rules, blocks, appointments, time holds and calendar feeds."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, Select, delete, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.accounts.models import Facility, Patient, Practitioner, PractitionerSpecialty, User
from telehealth.db.pagination import Page, paginate
from telehealth.scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AvailabilityBlock,
    AvailabilityRule,
    CalendarFeed,
    TimeHold,
)


class SchedulingRepository:
    """Loads and stores scheduling rows in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: object) -> None:
        """Stage a new row."""
        self.session.add(row)

    async def practitioner(
        self, practitioner_id: str
    ) -> tuple[Practitioner, User, Facility] | None:
        """A practitioner with their user and facility."""
        row = (
            await self.session.execute(
                select(Practitioner, User, Facility)
                .join(User, User.id == Practitioner.user_id)
                .join(Facility, Facility.id == User.facility_id)
                .where(Practitioner.id == practitioner_id)
            )
        ).first()
        return (row[0], row[1], row[2]) if row else None

    async def practitioners(
        self, specialty: str | None, facility_id: str | None, practitioner_id: str | None
    ) -> list[tuple[Practitioner, User, Facility]]:
        """Active practitioners matching the filters, with user and facility."""
        stmt = (
            select(Practitioner, User, Facility)
            .join(User, User.id == Practitioner.user_id)
            .join(Facility, Facility.id == User.facility_id)
            .where(User.active.is_(True))
        )
        if specialty:
            stmt = stmt.where(
                Practitioner.id.in_(
                    select(PractitionerSpecialty.practitioner_id).where(
                        PractitionerSpecialty.specialty_code == specialty
                    )
                )
            )
        if facility_id:
            stmt = stmt.where(User.facility_id == facility_id)
        if practitioner_id:
            stmt = stmt.where(Practitioner.id == practitioner_id)
        return [(p, u, f) for p, u, f in (await self.session.execute(stmt)).all()]

    async def specialties_of(self, practitioner_ids: Iterable[str]) -> dict[str, list[str]]:
        """Specialty codes per practitioner."""
        rows = await self.session.execute(
            select(PractitionerSpecialty.practitioner_id, PractitionerSpecialty.specialty_code)
            .where(PractitionerSpecialty.practitioner_id.in_(list(practitioner_ids)))
            .order_by(PractitionerSpecialty.specialty_code)
        )
        out: dict[str, list[str]] = {}
        for pid, code in rows.all():
            out.setdefault(pid, []).append(code)
        return out

    async def practitioner_of_user(self, user_id: str) -> Practitioner | None:
        """The practitioner profile of a user, if any."""
        found: Practitioner | None = await self.session.scalar(
            select(Practitioner).where(Practitioner.user_id == user_id)
        )
        return found

    async def rules(self, practitioner_ids: Iterable[str]) -> list[AvailabilityRule]:
        """Weekly rules of several practitioners."""
        rows = await self.session.scalars(
            select(AvailabilityRule)
            .where(AvailabilityRule.practitioner_id.in_(list(practitioner_ids)))
            .order_by(AvailabilityRule.weekday, AvailabilityRule.start_time)
        )
        return list(rows.all())

    async def replace_rules(self, practitioner_id: str, rules: list[AvailabilityRule]) -> None:
        """Swap a practitioner's whole rule set."""
        await self.session.execute(
            delete(AvailabilityRule).where(AvailabilityRule.practitioner_id == practitioner_id)
        )
        self.session.add_all(rules)
        await self.session.flush()

    async def blocks(
        self, practitioner_ids: Iterable[str], start: datetime, end: datetime | None
    ) -> list[AvailabilityBlock]:
        """Absences meeting [start, end) (no end: every later one)."""
        stmt = select(AvailabilityBlock).where(
            AvailabilityBlock.practitioner_id.in_(list(practitioner_ids)),
            AvailabilityBlock.end_at > start,
        )
        if end is not None:
            stmt = stmt.where(AvailabilityBlock.start_at < end)
        rows = await self.session.scalars(stmt.order_by(AvailabilityBlock.start_at))
        return list(rows.all())

    async def block(self, block_id: str) -> AvailabilityBlock | None:
        """One absence."""
        return await self.session.get(AvailabilityBlock, block_id)

    async def delete_block(self, block: AvailabilityBlock) -> None:
        """Remove an absence."""
        await self.session.delete(block)

    async def active_between(
        self, practitioner_ids: Iterable[str], start: datetime, end: datetime
    ) -> list[Appointment]:
        """Active appointments of practitioners meeting [start, end)."""
        rows = await self.session.scalars(
            select(Appointment).where(
                Appointment.practitioner_id.in_(list(practitioner_ids)),
                Appointment.status.in_([s.value for s in ACTIVE_STATUSES]),
                Appointment.start_at < end,
                Appointment.end_at > start,
            )
        )
        return list(rows.all())

    async def active_from(self, practitioner_id: str, start: datetime) -> list[Appointment]:
        """A practitioner's active appointments from `start` on, soonest first."""
        rows = await self.session.scalars(
            select(Appointment)
            .where(
                Appointment.practitioner_id == practitioner_id,
                Appointment.status.in_([s.value for s in ACTIVE_STATUSES]),
                Appointment.end_at > start,
            )
            .order_by(Appointment.start_at)
        )
        return list(rows.all())

    async def appointment(self, appointment_id: str, *, lock: bool = False) -> Appointment | None:
        """One appointment (row-locked on PostgreSQL when changing it)."""
        stmt = select(Appointment).where(Appointment.id == appointment_id)
        if lock:
            stmt = stmt.with_for_update()
        found: Appointment | None = await self.session.scalar(stmt)
        return found

    async def appointments(
        self,
        scope: ColumnElement[bool],
        filters: list[ColumnElement[bool]],
        limit: int,
        cursor: str | None,
    ) -> Page[Appointment]:
        """A page of appointments within `scope`, soonest first."""
        stmt: Select[Appointment] = select(Appointment).where(scope, *filters)
        return await paginate(
            self.session, stmt, Appointment.start_at, Appointment.id, limit, cursor
        )

    async def add_holds(
        self, appointment: Appointment, holders: list[str], blocks: list[datetime]
    ) -> None:
        """Hold the appointment's time for each holder; overlaps fail on the unique key."""
        self.session.add_all(
            TimeHold(holder=h, block_start=b, appointment_id=appointment.id)
            for h in holders
            for b in blocks
        )
        await self.session.flush()

    async def release_holds(self, appointment_id: str) -> None:
        """Free the time an appointment held."""
        await self.session.execute(
            delete(TimeHold).where(TimeHold.appointment_id == appointment_id)
        )

    async def people(
        self, user_ids: set[str], patient_ids: set[str]
    ) -> tuple[dict[str, User], dict[str, Patient]]:
        """Users and patients by id, for rendering appointments."""
        users = (
            {
                u.id: u
                for u in (
                    await self.session.scalars(select(User).where(User.id.in_(user_ids)))
                ).all()
            }
            if user_ids
            else {}
        )
        patients = (
            {
                p.id: p
                for p in (
                    await self.session.scalars(select(Patient).where(Patient.id.in_(patient_ids)))
                ).all()
            }
            if patient_ids
            else {}
        )
        return users, patients

    async def practitioners_by_ids(self, ids: set[str]) -> dict[str, Practitioner]:
        """Practitioners by id."""
        if not ids:
            return {}
        rows = await self.session.scalars(select(Practitioner).where(Practitioner.id.in_(ids)))
        return {p.id: p for p in rows.all()}

    async def facilities_by_ids(self, ids: set[str]) -> dict[str, Facility]:
        """Facilities by id."""
        if not ids:
            return {}
        rows = await self.session.scalars(select(Facility).where(Facility.id.in_(ids)))
        return {f.id: f for f in rows.all()}

    async def feed(self, practitioner_id: str) -> CalendarFeed | None:
        """The calendar feed row of a practitioner."""
        return await self.session.get(CalendarFeed, practitioner_id)

    async def feed_by_token_hash(self, token_hash: str) -> CalendarFeed | None:
        """The feed a secret URL belongs to."""
        found: CalendarFeed | None = await self.session.scalar(
            select(CalendarFeed).where(CalendarFeed.token_hash == token_hash)
        )
        return found


def either(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """OR of access conditions (an empty OR matches nothing)."""
    return or_(*conditions) if conditions else false()
