"""Use cases of the accounts feature, one unit of work each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts import schemas as s
from telehealth.accounts.models import (
    CLINICAL_ROLES,
    Facility,
    Patient,
    Practitioner,
    PractitionerSpecialty,
    Role,
    User,
    UserRole,
)
from telehealth.accounts.repository import AccountsRepository
from telehealth.accounts.search import PatientSearch
from telehealth.auth import policy
from telehealth.auth.audit import AuditContext, AuditLog, audit_refusal
from telehealth.auth.password_rules import check_new_password
from telehealth.auth.passwords import PasswordHasher
from telehealth.auth.principal import Principal
from telehealth.auth.sessions import end_all_sessions
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import Conflict, ErrorCode, InvalidInput, NotFound


def user_out(user: User) -> s.UserOut:
    """The API view of a user."""
    return s.UserOut(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        roles=sorted(user.role_set),
        facility_id=user.facility_id,
        phone=user.phone,
        email=user.email,
        locale=user.locale,
        active=user.active,
        created_at=user.created_at,
    )


def patient_out(patient: Patient) -> s.PatientOut:
    """The API view of a patient record."""
    return s.PatientOut.model_validate(
        {
            **{c: getattr(patient, c) for c in s.PatientOut.model_fields if c != "has_login"},
            "has_login": patient.user_id is not None,
        }
    )


@overload
def facility_ref(facility: Facility) -> s.FacilityRef: ...
@overload
def facility_ref(facility: Facility | None) -> s.FacilityRef | None: ...
def facility_ref(facility: Facility | None) -> s.FacilityRef | None:
    """A short reference to a facility (None for none)."""
    return s.FacilityRef.model_validate(facility) if facility else None


async def flush_unique(uow: UnitOfWork, what: str) -> None:
    """Flush, turning a unique-constraint violation into a 409 that names `what`."""
    try:
        await uow.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} already exists.", code=ErrorCode.ALREADY_EXISTS) from exc


async def facility_words(
    sessionmaker: async_sessionmaker[AsyncSession], facility_id: str | None
) -> tuple[str, ...]:
    """The name and code of a facility, which a password of its staff must not be built from."""
    if facility_id is None:
        return ()
    async with UnitOfWork(sessionmaker, read_only=True) as uow:
        facility = await AccountsRepository(uow.session).facility(facility_id)
        return (facility.name, facility.code) if facility else ()


class AccountsService:
    """Facilities, staff accounts, patient records and practitioner lookup."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        passwords: PasswordHasher,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._passwords = passwords
        self._clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessionmaker)

    async def list_facilities(self, query: s.FacilityQuery) -> s.FacilityPage:
        """A page of facilities (any signed-in user)."""
        async with self._uow() as uow:
            page = await AccountsRepository(uow.session).facilities(
                query.level, query.limit, query.cursor
            )
            items = [s.FacilityOut.model_validate(f) for f in page.items]
            return s.FacilityPage(items=items, next=page.next)

    async def create_facility(self, ctx: AuditContext, data: s.FacilityIn) -> s.FacilityOut:
        """Add a facility (admin)."""
        async with self._uow() as uow:
            repo = AccountsRepository(uow.session)
            if data.parent_id and await repo.facility(data.parent_id) is None:
                raise InvalidInput("parent_id names no facility.")
            _check_timezone(data.timezone)
            facility = Facility(**data.model_dump())
            repo.add(facility)
            await flush_unique(uow, f"A facility with code {data.code}")
            await AuditLog(uow.session, ctx).record(
                "facility.create", "facility", facility.id, {"code": data.code}
            )
            await uow.commit()
            return s.FacilityOut.model_validate(facility)

    async def list_specialties(self) -> list[s.SpecialtyOut]:
        """Every specialty."""
        async with self._uow() as uow:
            rows = await AccountsRepository(uow.session).specialties()
            return [s.SpecialtyOut.model_validate(r) for r in rows]

    async def create_user(self, ctx: AuditContext, data: s.UserCreate) -> s.UserOut:
        """Create a staff account, with a practitioner profile for clinicians (admin)."""
        facility = await facility_words(self._sessionmaker, data.facility_id)
        await check_new_password(data.password, data.username, data.full_name, *facility)
        password_hash = await self._passwords.hash(data.password)
        async with self._uow() as uow:
            repo = AccountsRepository(uow.session)
            await self._check_staff_fields(repo, data.roles, data.facility_id, data.specialties)
            user = User(
                username=data.username,
                password_hash=password_hash,
                full_name=data.full_name,
                phone=data.phone,
                email=data.email,
                locale=data.locale,
                facility_id=data.facility_id,
                roles=[UserRole(role=r.value) for r in sorted(set(data.roles))],
            )
            repo.add(user)
            await flush_unique(uow, f"The username {data.username}")
            if CLINICAL_ROLES & set(data.roles):
                repo.add(_practitioner(user.id, data.licence_number, data.specialties))
                await uow.flush()
            await AuditLog(uow.session, ctx).record(
                "user.create",
                "user",
                user.id,
                {"roles": sorted(set(data.roles)), "facility_id": data.facility_id},
            )
            await uow.commit()
            return user_out(user)

    async def _check_staff_fields(
        self,
        repo: AccountsRepository,
        roles: list[Role],
        facility_id: str | None,
        specialties: list[str],
    ) -> None:
        if facility_id is not None and await repo.facility(facility_id) is None:
            raise InvalidInput("facility_id names no facility.")
        staff = set(roles) - {Role.PATIENT, Role.TRAINEE, Role.ADMIN}
        if staff and facility_id is None:
            raise InvalidInput("Clinicians, coordinators and trainers need a facility_id.")
        unknown = set(specialties) - await repo.known_specialties(specialties)
        if unknown:
            raise InvalidInput(f"Unknown specialties: {', '.join(sorted(unknown))}.")
        if Role.SPECIALIST in roles and not specialties:
            raise InvalidInput("A specialist needs at least one specialty.")

    async def list_users(self, query: s.UserQuery) -> s.UserPage:
        """A page of users (admin)."""
        async with self._uow() as uow:
            page = await AccountsRepository(uow.session).users(
                query.role, query.facility_id, query.limit, query.cursor
            )
            return s.UserPage(items=[user_out(u) for u in page.items], next=page.next)

    async def get_user(self, user_id: str) -> s.UserOut:
        """One user (admin)."""
        async with self._uow() as uow:
            user = await AccountsRepository(uow.session).user(user_id)
            if user is None:
                raise NotFound("No such user.")
            return user_out(user)

    async def update_user(self, ctx: AuditContext, user_id: str, data: s.UserUpdate) -> s.UserOut:
        """Change a user's name, roles, facility or active flag (admin).

        Taking access away (deactivation, a role removed, a move to another facility) ends
        every session and token of the user for good: reactivation revives none of them.
        """
        changes = data.model_dump(exclude_unset=True)
        async with self._uow() as uow:
            repo = AccountsRepository(uow.session)
            user = await repo.user(user_id)
            if user is None:
                raise NotFound("No such user.")
            new_facility = changes.get("facility_id")
            if new_facility is not None and await repo.facility(new_facility) is None:
                raise InvalidInput("facility_id names no facility.")
            revoke = _takes_access_away(user, changes)
            roles = changes.pop("roles", None)
            if roles is not None:
                user.roles = [UserRole(role=Role(r).value) for r in sorted(set(roles))]
            for field, value in changes.items():
                setattr(user, field, value)
            await uow.flush()
            details: dict[str, Any] = {"fields": sorted(data.model_fields_set)}
            if revoke:
                details["sessions_ended"] = await end_all_sessions(
                    uow.session, user.id, self._clock()
                )
            await AuditLog(uow.session, ctx).record("user.update", "user", user.id, details)
            await uow.commit()
            return user_out(user)

    async def me(self, principal: Principal) -> s.MeOut:
        """The caller's own account."""
        async with self._uow() as uow:
            repo = AccountsRepository(uow.session)
            user = await repo.user(principal.user_id)
            if user is None:
                raise NotFound("No such user.")
            facility = await repo.facility(user.facility_id) if user.facility_id else None
            patient = await repo.patient_of_user(user.id)
            practitioner = await repo.practitioner_of_user(user.id)
            return s.MeOut(
                id=user.id,
                username=user.username,
                full_name=user.full_name,
                roles=sorted(user.role_set),
                facility=facility_ref(facility),
                locale=user.locale,
                patient_id=patient.id if patient else None,
                practitioner_id=practitioner.id if practitioner else None,
            )

    async def update_me(self, principal: Principal, ctx: AuditContext, data: s.MeUpdate) -> s.MeOut:
        """Change one's own name, phone, e-mail or language."""
        async with self._uow() as uow:
            user = await AccountsRepository(uow.session).user(principal.user_id)
            if user is None:
                raise NotFound("No such user.")
            for field, value in data.model_dump(exclude_unset=True).items():
                setattr(user, field, value)
            await AuditLog(uow.session, ctx).record(
                "user.update_self", "user", user.id, {"fields": sorted(data.model_fields_set)}
            )
            await uow.commit()
        return await self.me(principal)

    async def register_patient(
        self, principal: Principal, ctx: AuditContext, data: s.PatientCreate
    ) -> s.PatientOut:
        """A patient record without a login, at the caller's facility (staff)."""
        facility_id = data.home_facility_id or principal.facility_id
        policy.ensure_may_register_patient_at(principal, facility_id)
        async with self._uow() as uow:
            repo = AccountsRepository(uow.session)
            if facility_id is None or await repo.facility(facility_id) is None:
                raise InvalidInput("home_facility_id names no facility.")
            patient = Patient(
                **data.model_dump(exclude={"home_facility_id"}),
                home_facility_id=facility_id,
                created_by=principal.user_id,
            )
            repo.add(patient)
            # Unique per facility only: a clash here is with a record the caller can see.
            await flush_unique(uow, "A patient with this national id or insurance number")
            audit = AuditLog(uow.session, ctx)
            await audit.record(
                "patient.create", "patient", patient.id, {"home_facility_id": facility_id}
            )
            elsewhere = await repo.same_identifiers_elsewhere(patient)
            if elsewhere:
                await audit.record(
                    "patient.possible_duplicate", "patient", patient.id, {"matches": elsewhere}
                )
            await uow.commit()
            return patient_out(patient)

    async def list_patients(
        self, principal: Principal, ctx: AuditContext, query: s.PatientQuery
    ) -> s.PatientPage:
        """Patients of the caller's facility (admins: any), and for coordinators the
        self-registered patient whose whole phone or identifier is given; audited."""
        scope = policy.patient_scope(principal, query.facility_id)
        search = PatientSearch.parse(query.q) if query.q else None
        async with self._uow() as uow:
            page = await AccountsRepository(uow.session).patients(
                scope,
                search,
                query.limit,
                query.cursor,
                unhomed_by_identifier=policy.may_find_unhomed_patients(principal),
            )
            if page.items:
                ids = [p.id for p in page.items]
                await AuditLog(uow.session, ctx).record(
                    "patient.list", "patient", None, {"ids": ids, "facility_id": scope}
                )
                await uow.commit()
            return s.PatientPage(items=[patient_out(p) for p in page.items], next=page.next)

    async def get_patient(
        self, principal: Principal, ctx: AuditContext, patient_id: str
    ) -> s.PatientOut:
        """One patient record, if the caller may see it; every read is audited."""
        async with self._uow() as uow:
            found = await AccountsRepository(uow.session).patient(patient_id)
            if found is not None and not policy.may_view_patient(principal, found):
                await audit_refusal(uow, ctx, "patient", found)
            patient = policy.ensure_patient_visible(principal, found)
            await AuditLog(uow.session, ctx).record("patient.read", "patient", patient.id)
            await uow.commit()
            return patient_out(patient)

    async def list_practitioners(self, query: s.PractitionerQuery) -> s.PractitionerPage:
        """Practitioners by specialty and facility (any signed-in user)."""
        async with self._uow() as uow:
            repo = AccountsRepository(uow.session)
            page = await repo.practitioners(
                query.specialty, query.facility_id, query.limit, query.cursor, role=query.role
            )
            users = await repo.users_by_ids({p.user_id for p in page.items})
            facilities = await repo.facilities_by_ids(
                {u.facility_id for u in users.values() if u.facility_id}
            )
            items = [
                s.PractitionerOut(
                    id=p.id,
                    user_id=p.user_id,
                    full_name=users[p.user_id].full_name,
                    facility=facility_ref(facilities.get(users[p.user_id].facility_id or "")),
                    specialties=[ps.specialty_code for ps in p.specialties],
                    licence_number=p.licence_number,
                )
                for p in page.items
            ]
            return s.PractitionerPage(items=items, next=page.next)


def _takes_access_away(user: User, changes: dict[str, Any]) -> bool:
    """True if an update removes something the user's sessions were granted under."""
    roles = changes.get("roles")
    return (
        changes.get("active") is False
        or (roles is not None and not user.role_set <= {Role(r) for r in roles})
        or ("facility_id" in changes and changes["facility_id"] != user.facility_id)
    )


def _practitioner(user_id: str, licence_number: str | None, specialties: list[str]) -> Practitioner:
    return Practitioner(
        user_id=user_id,
        licence_number=licence_number,
        specialties=[PractitionerSpecialty(specialty_code=c) for c in sorted(set(specialties))],
    )


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"Unknown time zone {name!r}.") from exc
