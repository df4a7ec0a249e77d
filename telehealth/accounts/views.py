"""JSON endpoints of facilities, users, patients and practitioners."""

from __future__ import annotations

from typing import Any

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.accounts.models import Role
from telehealth.accounts.service import AccountsService
from telehealth.views.routing import Call, Routes

routes = Routes("accounts")
STAFF = {Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.ADMIN}
REGISTRARS = {Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.ADMIN}


def _accounts(call: Call[Any, Any]) -> AccountsService:
    return call.request.app[keys.ACCOUNTS]


@routes.get(
    "/api/v1/facilities",
    summary="List facilities",
    query=s.FacilityQuery,
    response=s.FacilityPage,
)
async def list_facilities(call: Call[None, s.FacilityQuery]) -> s.FacilityPage:
    """Facilities of the network (any signed-in user)."""
    return await _accounts(call).list_facilities(call.query)


@routes.post(
    "/api/v1/facilities",
    summary="Add a facility",
    roles={Role.ADMIN},
    body=s.FacilityIn,
    response=s.FacilityOut,
    status=201,
    errors=(409,),
)
async def create_facility(call: Call[s.FacilityIn, Any]) -> s.FacilityOut:
    """Add a hospital or health station (admin)."""
    return await _accounts(call).create_facility(call.audit, call.body)


@routes.get("/api/v1/specialties", summary="List specialties", response=list[s.SpecialtyOut])
async def list_specialties(call: Call[None, Any]) -> list[s.SpecialtyOut]:
    """Every specialty with Vietnamese and English names."""
    return await _accounts(call).list_specialties()


@routes.get(
    "/api/v1/users",
    summary="List users",
    roles={Role.ADMIN},
    query=s.UserQuery,
    response=s.UserPage,
)
async def list_users(call: Call[None, s.UserQuery]) -> s.UserPage:
    """User accounts, by role or facility (admin)."""
    return await _accounts(call).list_users(call.query)


@routes.post(
    "/api/v1/users",
    summary="Create a staff account",
    roles={Role.ADMIN},
    body=s.UserCreate,
    response=s.UserOut,
    status=201,
    errors=(409,),
)
async def create_user(call: Call[s.UserCreate, Any]) -> s.UserOut:
    """A staff account, with a practitioner profile for doctors and specialists (admin)."""
    return await _accounts(call).create_user(call.audit, call.body)


@routes.get(
    "/api/v1/users/{user_id}",
    summary="One user",
    roles={Role.ADMIN},
    response=s.UserOut,
    errors=(404,),
)
async def get_user(call: Call[None, Any]) -> s.UserOut:
    """One account (admin)."""
    return await _accounts(call).get_user(call.path("user_id"))


@routes.patch(
    "/api/v1/users/{user_id}",
    summary="Change a user",
    roles={Role.ADMIN},
    body=s.UserUpdate,
    response=s.UserOut,
    errors=(404,),
)
async def update_user(call: Call[s.UserUpdate, Any]) -> s.UserOut:
    """Name, roles, facility or active flag of an account (admin)."""
    return await _accounts(call).update_user(call.audit, call.path("user_id"), call.body)


@routes.get(
    "/api/v1/patients",
    summary="List patient records",
    roles=STAFF,
    query=s.PatientQuery,
    response=s.PatientPage,
)
async def list_patients(call: Call[None, s.PatientQuery]) -> s.PatientPage:
    """Patients of the caller's facility (admins: any), searchable; the read is audited."""
    return await _accounts(call).list_patients(call.principal, call.audit, call.query)


@routes.post(
    "/api/v1/patients",
    summary="Register a patient without a login",
    roles=REGISTRARS,
    body=s.PatientCreate,
    response=s.PatientOut,
    status=201,
    errors=(409,),
)
async def create_patient(call: Call[s.PatientCreate, Any]) -> s.PatientOut:
    """A patient record at the caller's facility, for booking on their behalf."""
    return await _accounts(call).register_patient(call.principal, call.audit, call.body)


@routes.get(
    "/api/v1/patients/{patient_id}",
    summary="One patient record",
    response=s.PatientOut,
    errors=(404,),
)
async def get_patient(call: Call[None, Any]) -> s.PatientOut:
    """The record, if the caller may see it (otherwise 404); the read is audited."""
    return await _accounts(call).get_patient(call.principal, call.audit, call.path("patient_id"))


@routes.get(
    "/api/v1/practitioners",
    summary="Who can be booked or consulted",
    query=s.PractitionerQuery,
    response=s.PractitionerPage,
)
async def list_practitioners(call: Call[None, s.PractitionerQuery]) -> s.PractitionerPage:
    """Practitioners by specialty and facility."""
    return await _accounts(call).list_practitioners(call.query)
