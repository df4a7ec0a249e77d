"""JSON endpoints of availability, free slots and appointments."""

from __future__ import annotations

from typing import Any

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.scheduling import schemas as s
from telehealth.scheduling.models import AppointmentStatus
from telehealth.views.routing import Call, Routes

routes = Routes("scheduling")
SCHEDULERS = {Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.ADMIN}
BOOKERS = {Role.PATIENT, Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR}
CLOSERS = {Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.ADMIN}
AVAILABILITY = "/api/v1/practitioners/{practitioner_id}/availability"
APPOINTMENT = "/api/v1/appointments/{appointment_id}"


@routes.get(
    AVAILABILITY,
    summary="A practitioner's weekly rules, blocks and conflicts",
    roles=SCHEDULERS,
    response=s.AvailabilityOut,
    errors=(404,),
)
async def get_availability(call: Call[None, Any]) -> s.AvailabilityOut:
    """For the practitioner, their facility's coordinators and admins."""
    return await call.request.app[keys.AVAILABILITY].availability(
        call.principal, call.path("practitioner_id")
    )


@routes.put(
    AVAILABILITY,
    summary="Replace a practitioner's weekly rules",
    roles=SCHEDULERS,
    body=s.AvailabilityIn,
    response=s.AvailabilityOut,
    errors=(404,),
)
async def put_availability(call: Call[s.AvailabilityIn, Any]) -> s.AvailabilityOut:
    """Booked appointments are never cancelled by a rule change; they come back as conflicts."""
    return await call.request.app[keys.AVAILABILITY].set_availability(
        call.principal, call.audit, call.path("practitioner_id"), call.body
    )


@routes.post(
    "/api/v1/practitioners/{practitioner_id}/blocks",
    summary="Block time off (leave, holiday)",
    roles=SCHEDULERS,
    body=s.BlockIn,
    response=s.AvailabilityOut,
    status=201,
    errors=(404,),
)
async def add_block(call: Call[s.BlockIn, Any]) -> s.AvailabilityOut:
    """No slot is offered inside a block; bookings inside it are reported as conflicts."""
    return await call.request.app[keys.AVAILABILITY].add_block(
        call.principal, call.audit, call.path("practitioner_id"), call.body
    )


@routes.delete(
    "/api/v1/practitioners/{practitioner_id}/blocks/{block_id}",
    summary="Remove a block",
    roles=SCHEDULERS,
    response=s.AvailabilityOut,
    errors=(404,),
)
async def remove_block(call: Call[None, Any]) -> s.AvailabilityOut:
    """Offer the time again."""
    return await call.request.app[keys.AVAILABILITY].remove_block(
        call.principal, call.audit, call.path("practitioner_id"), call.path("block_id")
    )


@routes.get(
    "/api/v1/slots",
    summary="Free slots",
    query=s.SlotQuery,
    response=s.SlotPage,
)
async def list_slots(call: Call[None, s.SlotQuery]) -> s.SlotPage:
    """Free slots by specialty, practitioner, facility and date range, soonest first."""
    return await call.request.app[keys.SLOTS].free_slots(call.query)


@routes.post(
    "/api/v1/appointments",
    summary="Book a slot",
    roles=BOOKERS,
    body=s.AppointmentCreate,
    response=s.AppointmentOut,
    status=201,
    errors=(404, 409, 422),
)
async def book(call: Call[s.AppointmentCreate, Any]) -> s.AppointmentOut:
    """A lost race answers 409 `slot_taken` with `next_slots`, the next free slots."""
    return await call.request.app[keys.APPOINTMENTS].book(call.principal, call.audit, call.body)


@routes.get(
    "/api/v1/appointments",
    summary="My appointments, schedule or facility list",
    query=s.AppointmentQuery,
    response=s.AppointmentPage,
)
async def list_appointments(call: Call[None, s.AppointmentQuery]) -> s.AppointmentPage:
    """Patients see their own; practitioners their schedule; coordinators their facility."""
    return await call.request.app[keys.APPOINTMENTS].list_appointments(
        call.principal, call.audit, call.query
    )


@routes.get(APPOINTMENT, summary="One appointment", response=s.AppointmentOut, errors=(404,))
async def get_appointment(call: Call[None, Any]) -> s.AppointmentOut:
    """For the parties of the appointment only (others get 404)."""
    return await call.request.app[keys.APPOINTMENTS].get(
        call.principal, call.audit, call.path("appointment_id")
    )


@routes.post(
    APPOINTMENT + "/cancel",
    summary="Cancel with a reason",
    body=s.CancelIn,
    response=s.AppointmentOut,
    errors=(404, 409),
)
async def cancel(call: Call[s.CancelIn, Any]) -> s.AppointmentOut:
    """Frees the slot, withdraws reminders and tells the patient."""
    return await call.request.app[keys.APPOINTMENTS].cancel(
        call.principal, call.audit, call.path("appointment_id"), call.body
    )


@routes.post(
    APPOINTMENT + "/reschedule",
    summary="Move to another slot",
    body=s.RescheduleIn,
    response=s.AppointmentOut,
    errors=(404, 409, 422),
)
async def reschedule(call: Call[s.RescheduleIn, Any]) -> s.AppointmentOut:
    """Same practitioner, another free slot; atomic, so the old slot is kept if it fails."""
    return await call.request.app[keys.APPOINTMENTS].reschedule(
        call.principal, call.audit, call.path("appointment_id"), call.body
    )


@routes.post(
    APPOINTMENT + "/check-in",
    summary="Arrive in the waiting room",
    response=s.AppointmentOut,
    errors=(404, 409, 422),
)
async def check_in(call: Call[None, Any]) -> s.AppointmentOut:
    """From an hour before the start until its end."""
    return await call.request.app[keys.APPOINTMENTS].check_in(
        call.principal, call.audit, call.path("appointment_id")
    )


@routes.post(
    APPOINTMENT + "/no-show",
    summary="Mark that the patient did not come",
    roles=CLOSERS,
    response=s.AppointmentOut,
    errors=(404, 409, 422),
)
async def no_show(call: Call[None, Any]) -> s.AppointmentOut:
    """The practitioner or the facility's coordinators, after the start."""
    return await call.request.app[keys.APPOINTMENTS].close(
        call.principal, call.audit, call.path("appointment_id"), AppointmentStatus.NO_SHOW
    )


@routes.post(
    APPOINTMENT + "/complete",
    summary="Mark the visit completed",
    roles=CLOSERS,
    response=s.AppointmentOut,
    errors=(404, 409, 422),
)
async def complete(call: Call[None, Any]) -> s.AppointmentOut:
    """The practitioner or the facility's coordinators, after the start."""
    return await call.request.app[keys.APPOINTMENTS].close(
        call.principal, call.audit, call.path("appointment_id"), AppointmentStatus.COMPLETED
    )
