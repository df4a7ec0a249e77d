"""SQL of the on-call rota: shifts, and the practitioners and hospitals they name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from telehealth.accounts.models import (
    Facility,
    Practitioner,
    PractitionerSpecialty,
    Role,
    User,
    UserRole,
)
from telehealth.consults.models import OnCallShift
from telehealth.consults.policy import HUB_LEVELS
from telehealth.consults.rota_schemas import NowQuery, RotaQuery, ShiftIn, Specialist
from telehealth.db.pagination import Page, paginate

# Only the hub hospitals answer requests that name no facility, so only they keep a rota.
ON_CALL_LEVELS = HUB_LEVELS


class RotaRepository:
    """SQL of the rota, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def shift(self, shift_id: str, *, lock: bool = False) -> OnCallShift | None:
        """One shift (row-locked on PostgreSQL when changing it)."""
        stmt = select(OnCallShift).where(OnCallShift.id == shift_id)
        found: OnCallShift | None = await self.session.scalar(
            stmt.with_for_update() if lock else stmt
        )
        return found

    def _filtered(self, specialty: str | None, facility_id: str | None) -> Select[OnCallShift]:
        stmt = select(OnCallShift)
        if specialty:
            stmt = stmt.where(OnCallShift.specialty_code == specialty)
        if facility_id:
            stmt = stmt.where(OnCallShift.facility_id == facility_id)
        return stmt

    async def between(self, query: RotaQuery, start: datetime, end: datetime) -> Page[OnCallShift]:
        """A page of the shifts overlapping [start, end), by start."""
        stmt = self._filtered(query.specialty, query.facility_id).where(
            OnCallShift.end_at > start, OnCallShift.start_at < end
        )
        return await paginate(
            self.session, stmt, OnCallShift.start_at, OnCallShift.id, query.limit, query.cursor
        )

    async def covering(self, query: NowQuery, at: datetime) -> list[OnCallShift]:
        """Shifts covering `at`, by start."""
        stmt = self._filtered(query.specialty, query.facility_id).where(
            OnCallShift.start_at <= at, OnCallShift.end_at > at
        )
        rows = await self.session.scalars(stmt.order_by(OnCallShift.start_at, OnCallShift.id))
        return list(rows.all())

    async def overlapping(self, data: ShiftIn) -> OnCallShift | None:
        """A shift of the same practitioner and specialty overlapping the new one."""
        found: OnCallShift | None = await self.session.scalar(
            select(OnCallShift)
            .where(
                OnCallShift.practitioner_id == data.practitioner_id,
                OnCallShift.specialty_code == data.specialty,
                OnCallShift.start_at < data.end_at,
                OnCallShift.end_at > data.start_at,
            )
            .limit(1)
        )
        return found

    async def own_practitioner_id(self, user_id: str) -> str | None:
        """The practitioner id of a user, if they are one."""
        found: str | None = await self.session.scalar(
            select(Practitioner.id).where(Practitioner.user_id == user_id)
        )
        return found

    async def specialist(self, practitioner_id: str) -> tuple[User, frozenset[str]] | None:
        """A practitioner's user (with roles) and specialties. The practitioner row is
        locked on PostgreSQL, so two shifts for one person are checked one after the other."""
        practitioner = await self.session.scalar(
            select(Practitioner).where(Practitioner.id == practitioner_id).with_for_update()
        )
        if practitioner is None:
            return None
        user = await self.session.scalar(
            select(User).options(selectinload(User.roles)).where(User.id == practitioner.user_id)
        )
        codes = await self.session.scalars(
            select(PractitionerSpecialty.specialty_code).where(
                PractitionerSpecialty.practitioner_id == practitioner_id
            )
        )
        return (user, frozenset(codes.all())) if user else None

    async def names(self, practitioner_ids: set[str]) -> dict[str, str]:
        """Full names by practitioner id."""
        rows = await self.session.execute(
            select(Practitioner.id, User.full_name)
            .join(User, User.id == Practitioner.user_id)
            .where(Practitioner.id.in_(practitioner_ids))
        )
        return dict(rows.all())

    async def hubs(self) -> list[Facility]:
        """The hospitals that keep a rota, by name."""
        rows = await self.session.scalars(
            select(Facility).where(Facility.level.in_(ON_CALL_LEVELS)).order_by(Facility.name)
        )
        return list(rows.all())

    async def specialists_at(self, facility_ids: list[str]) -> list[Specialist]:
        """Active specialists working at these hospitals, by name."""
        rows = await self.session.execute(
            select(Practitioner.id, User.full_name, User.facility_id)
            .join(User, User.id == Practitioner.user_id)
            .where(
                User.active.is_(True),
                User.facility_id.in_(facility_ids),
                User.id.in_(select(UserRole.user_id).where(UserRole.role == Role.SPECIALIST)),
            )
            .order_by(User.full_name, Practitioner.id)
        )
        people = rows.all()
        codes = await self.session.execute(
            select(PractitionerSpecialty.practitioner_id, PractitionerSpecialty.specialty_code)
            .where(PractitionerSpecialty.practitioner_id.in_([p[0] for p in people]))
            .order_by(PractitionerSpecialty.specialty_code)
        )
        held: dict[str, list[str]] = {}
        for pid, code in codes.all():
            held.setdefault(pid, []).append(code)
        return [
            Specialist(pid, name, fid or "", tuple(held.get(pid, []))) for pid, name, fid in people
        ]
