"""How appointments look in the API: names, facilities and local times filled in."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from telehealth.accounts.models import Patient
from telehealth.accounts.service import facility_ref
from telehealth.scheduling import schemas as s
from telehealth.scheduling.models import (
    Appointment,
)
from telehealth.scheduling.repository import SchedulingRepository


async def render_one(
    repo: SchedulingRepository, appt: Appointment, *, viewer: str | None = None
) -> s.AppointmentOut:
    """The API view of one appointment (as `viewer`, a user id, sees it)."""
    return (await render_appointments(repo, [appt], viewer=viewer))[0]


async def render_appointments(
    repo: SchedulingRepository, appts: list[Appointment], *, viewer: str | None = None
) -> list[s.AppointmentOut]:
    """The API view of appointments, loading names and facilities in batches.

    The patient's contact number goes to the doctor of the visit only (to ring back an
    audio visit or a patient who cannot connect); coordinators and bookers see the record
    itself where the patient rules allow it."""
    practitioners = await repo.practitioners_by_ids({a.practitioner_id for a in appts})
    facilities = await repo.facilities_by_ids({a.facility_id for a in appts})
    users, patients = await repo.people(
        {p.user_id for p in practitioners.values()} | {a.booked_by for a in appts},
        {a.patient_id for a in appts},
    )
    out = []
    for a in appts:
        facility = facilities[a.facility_id]
        tz = ZoneInfo(facility.timezone)
        doctor = users[practitioners[a.practitioner_id].user_id]
        patient = patients[a.patient_id]
        booker = users[a.booked_by]
        out.append(
            s.AppointmentOut(
                id=a.id,
                slot_id=a.slot_id,
                patient=s.PersonRef(id=patient.id, full_name=patient.full_name),
                practitioner=s.PersonRef(id=a.practitioner_id, full_name=doctor.full_name),
                facility=facility_ref(facility),
                start=a.start_at.astimezone(tz),
                end=a.end_at.astimezone(tz),
                mode=a.mode,
                reason=a.reason,
                status=a.status,
                booked_by=s.PersonRef(id=booker.id, full_name=booker.full_name),
                booked_on_behalf=booked_on_behalf(a, patient),
                companion=a.companion,
                patient_phone=patient.phone if viewer == doctor.id else None,
                cancel_reason=a.cancel_reason,
                checked_in_at=a.checked_in_at.astimezone(tz) if a.checked_in_at else None,
                room_id=a.room_id,
                version=a.version,
                created_at=a.created_at,
            )
        )
    return out


def booked_on_behalf(appt: Appointment, patient: Patient) -> bool:
    """True unless the patient booked it themself."""
    return patient.user_id is None or appt.booked_by != patient.user_id
