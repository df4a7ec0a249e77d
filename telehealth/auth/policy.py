"""Who may do what to which record: the access rules every service asks.

Role checks at the door are declared on each endpoint; these functions decide on
individual records, where a refusal must often look like "not found".
"""

from __future__ import annotations

from telehealth.accounts.models import Patient, Role
from telehealth.auth.principal import Principal
from telehealth.errors import Forbidden, NotFound

# Roles that work with patient records of their own facility.
FACILITY_CLINICAL = (Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR)


def may_view_patient(principal: Principal, patient: Patient) -> bool:
    """The patient themself, admins, and clinicians or coordinators of the home facility."""
    if patient.user_id is not None and patient.user_id == principal.user_id:
        return True
    if principal.has(Role.ADMIN):
        return True
    return (
        principal.has(*FACILITY_CLINICAL)
        and principal.facility_id is not None
        and principal.facility_id == patient.home_facility_id
    )


def ensure_patient_visible(principal: Principal, patient: Patient | None) -> Patient:
    """The patient, or NotFound: whether a foreign record exists is never revealed."""
    if patient is None or not may_view_patient(principal, patient):
        raise NotFound("No such patient.")
    return patient


def ensure_may_register_patient_at(principal: Principal, facility_id: str | None) -> None:
    """Staff register patients at their own facility; admins anywhere."""
    if principal.has(Role.ADMIN):
        return
    if facility_id is None or facility_id != principal.facility_id:
        raise Forbidden("You can register patients only at your own facility.")


def may_find_unhomed_patients(principal: Principal) -> bool:
    """Coordinators find a self-registered patient (no home facility) by a whole phone
    number or identifier the patient gave them, to book on their behalf; never by name."""
    return principal.has(Role.COORDINATOR)


def patient_scope(principal: Principal, requested: str | None) -> str | None:
    """Which home facility a patient list may show: admins any, staff only their own."""
    if principal.has(Role.ADMIN):
        return requested
    if principal.facility_id is None:
        raise Forbidden("You are not attached to a facility.")
    if requested is not None and requested != principal.facility_id:
        raise Forbidden("You can list only your own facility's patients.")
    return principal.facility_id
