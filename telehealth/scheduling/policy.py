"""Who may manage a schedule, book for whom, and see or change which appointment."""

from __future__ import annotations

from dataclasses import dataclass

from telehealth.accounts.models import Patient, Role
from telehealth.auth.principal import Principal
from telehealth.errors import Forbidden, NotFound
from telehealth.scheduling.models import Appointment


@dataclass(frozen=True)
class AppointmentParties:
    """The people an appointment concerns, for access decisions."""

    appointment: Appointment
    practitioner_user_id: str
    patient: Patient


def ensure_may_manage_schedule(
    principal: Principal, practitioner_user_id: str, facility_id: str
) -> None:
    """The practitioner, a coordinator of their facility, or an admin."""
    if principal.user_id == practitioner_user_id or principal.has(Role.ADMIN):
        return
    if principal.has(Role.COORDINATOR) and principal.facility_id == facility_id:
        return
    raise NotFound("No such practitioner schedule.")


def ensure_may_book(
    principal: Principal, patient: Patient | None, practitioner_facility_id: str
) -> Patient:
    """Patients book for themselves; coordinators at their facility's practitioners or for
    their facility's patients; doctors for their own facility's patients."""
    if patient is None:
        raise NotFound("No such patient.")
    if patient.user_id is not None and patient.user_id == principal.user_id:
        return patient
    own_patient = principal.facility_id is not None and patient.home_facility_id == (
        principal.facility_id
    )
    if principal.has(Role.COORDINATOR) and (
        own_patient or practitioner_facility_id == principal.facility_id
    ):
        return patient
    if principal.has(Role.DOCTOR, Role.SPECIALIST) and own_patient:
        return patient
    # A patient the caller may not book for answers like a missing one: a 403 here would
    # tell a stranger that the id is a patient of some other facility.
    raise NotFound("No such patient.")


def may_see(principal: Principal, parties: AppointmentParties) -> bool:
    """The patient, the practitioner, whoever booked, coordinators of either facility, admins."""
    appt, patient = parties.appointment, parties.patient
    if principal.has(Role.ADMIN):
        return True
    if principal.user_id in {patient.user_id, parties.practitioner_user_id, appt.booked_by}:
        return True
    return principal.has(Role.COORDINATOR) and principal.facility_id in {
        appt.facility_id,
        patient.home_facility_id,
    }


def ensure_visible(principal: Principal, parties: AppointmentParties | None) -> AppointmentParties:
    """The parties, or NotFound for anyone outside them."""
    if parties is None or not may_see(principal, parties):
        raise NotFound("No such appointment.")
    return parties


def ensure_may_close(principal: Principal, parties: AppointmentParties) -> None:
    """Marking no-show or completed: the practitioner, the facility's coordinators, admins."""
    if principal.user_id == parties.practitioner_user_id or principal.has(Role.ADMIN):
        return
    if principal.has(Role.COORDINATOR) and principal.facility_id == parties.appointment.facility_id:
        return
    raise Forbidden("Only the practitioner or the facility's coordinators can do this.")
