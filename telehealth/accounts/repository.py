"""SQL of the accounts feature; the only module here that builds queries."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from telehealth.accounts.models import (
    Facility,
    Patient,
    Practitioner,
    PractitionerSpecialty,
    Specialty,
    User,
    UserRole,
)
from telehealth.accounts.search import PatientSearch
from telehealth.db.pagination import Page, paginate


class AccountsRepository:
    """Loads and stores facilities, users, patients and practitioners."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: object) -> None:
        """Stage a new row."""
        self.session.add(row)

    async def flush(self) -> None:
        """Send staged rows so constraints are checked."""
        await self.session.flush()

    async def facility(self, facility_id: str) -> Facility | None:
        """One facility by id."""
        return await self.session.get(Facility, facility_id)

    async def facility_by_code(self, code: str) -> Facility | None:
        """One facility by its code."""
        return await self.session.scalar(select(Facility).where(Facility.code == code))

    async def facilities(self, level: str | None, limit: int, cursor: str | None) -> Page[Facility]:
        """A page of facilities."""
        stmt = select(Facility)
        if level:
            stmt = stmt.where(Facility.level == level)
        return await paginate(self.session, stmt, Facility.created_at, Facility.id, limit, cursor)

    async def specialties(self) -> list[Specialty]:
        """Every specialty, by code."""
        return list((await self.session.scalars(select(Specialty).order_by(Specialty.code))).all())

    async def known_specialties(self, codes: list[str]) -> set[str]:
        """Which of `codes` exist."""
        rows = await self.session.scalars(select(Specialty.code).where(Specialty.code.in_(codes)))
        return set(rows.all())

    def _users(self) -> Select[User]:
        return select(User).options(selectinload(User.roles))

    async def user(self, user_id: str) -> User | None:
        """One user with roles."""
        user: User | None = await self.session.scalar(self._users().where(User.id == user_id))
        return user

    async def user_by_username(self, username: str) -> User | None:
        """One user with roles, by lower-cased username."""
        user: User | None = await self.session.scalar(
            self._users().where(User.username == username.strip().lower())
        )
        return user

    async def users(
        self, role: str | None, facility_id: str | None, limit: int, cursor: str | None
    ) -> Page[User]:
        """A page of users, optionally of one role or facility."""
        stmt = self._users()
        if role:
            stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
        if facility_id:
            stmt = stmt.where(User.facility_id == facility_id)
        return await paginate(self.session, stmt, User.created_at, User.id, limit, cursor)

    async def patient(self, patient_id: str) -> Patient | None:
        """One patient record."""
        return await self.session.get(Patient, patient_id)

    async def patient_of_user(self, user_id: str) -> Patient | None:
        """The patient record linked to a login."""
        return await self.session.scalar(select(Patient).where(Patient.user_id == user_id))

    async def patients(
        self,
        facility_id: str | None,
        search: PatientSearch | None,
        limit: int,
        cursor: str | None,
        *,
        unhomed_by_identifier: bool = False,
    ) -> Page[Patient]:
        """A page of patients of one home facility (None: every one) matching `search`.

        With `unhomed_by_identifier`, patients with no home facility (self-registered) are
        included too, but only on a whole phone number or identifier, never a name part."""
        stmt = select(Patient)
        scope = [] if facility_id is None else [Patient.home_facility_id == facility_id]
        if search is not None:
            stmt = stmt.where(_matches(search))
            if unhomed_by_identifier and facility_id is not None and search.exact:
                scope.append(_matches_exactly(search) & Patient.home_facility_id.is_(None))
        if scope:
            stmt = stmt.where(or_(*scope))
        return await paginate(self.session, stmt, Patient.created_at, Patient.id, limit, cursor)

    async def same_identifiers_elsewhere(self, patient: Patient) -> list[str]:
        """Ids of patients at other facilities with the national id or insurance number of
        `patient`: candidates for the merge workflow, never shown to the caller."""
        matches = [
            column == value
            for column, value in (
                (Patient.national_id, patient.national_id),
                (Patient.insurance_number, patient.insurance_number),
            )
            if value is not None
        ]
        if not matches:
            return []
        stmt = (
            select(Patient.id)
            .where(or_(*matches), Patient.id != patient.id)
            .order_by(Patient.created_at, Patient.id)
        )
        return list((await self.session.scalars(stmt)).all())

    def _practitioners(self) -> Select[Practitioner]:
        return select(Practitioner).options(selectinload(Practitioner.specialties))

    async def practitioner_of_user(self, user_id: str) -> Practitioner | None:
        """The practitioner profile of a user."""
        practitioner: Practitioner | None = await self.session.scalar(
            self._practitioners().where(Practitioner.user_id == user_id)
        )
        return practitioner

    async def practitioners(
        self,
        specialty: str | None,
        facility_id: str | None,
        limit: int,
        cursor: str | None,
        *,
        role: str | None = None,
    ) -> Page[Practitioner]:
        """A page of active practitioners, by specialty, facility and role."""
        stmt = self._practitioners().join(User, User.id == Practitioner.user_id)
        stmt = stmt.where(User.active.is_(True))
        if role:
            stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
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
        return await paginate(
            self.session, stmt, Practitioner.created_at, Practitioner.id, limit, cursor
        )

    async def users_by_ids(self, ids: set[str]) -> dict[str, User]:
        """Users keyed by id."""
        if not ids:
            return {}
        rows = await self.session.scalars(select(User).where(User.id.in_(ids)))
        return {u.id: u for u in rows.all()}

    async def facilities_by_ids(self, ids: set[str]) -> dict[str, Facility]:
        """Facilities keyed by id."""
        if not ids:
            return {}
        rows = await self.session.scalars(select(Facility).where(Facility.id.in_(ids)))
        return {f.id: f for f in rows.all()}


def _matches_exactly(search: PatientSearch) -> ColumnElement[bool]:
    """A whole phone number, citizen identity or insurance number."""
    exact: list[ColumnElement[bool]] = []
    if search.phones:
        exact.append(Patient.phone.in_(search.phones))
    if search.identifier is not None:
        exact.append(Patient.national_id == search.identifier)
        exact.append(Patient.insurance_number == search.identifier)
    return or_(false(), *exact)


def _matches(search: PatientSearch) -> ColumnElement[bool]:
    """Part of the folded name, or a whole phone number or identifier."""
    name = Patient.search_name.contains(search.name, autoescape=True)
    return or_(name, _matches_exactly(search)) if search.name else _matches_exactly(search)
