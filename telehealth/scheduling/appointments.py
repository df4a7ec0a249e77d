"""Appointment use cases, one unit of work each: booking and the appointment lifecycle.

Double booking is prevented by the database, never by a read-then-write check: a lost
race surfaces as an IntegrityError and becomes 409 `slot_taken`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts.models import Patient, Role, User
from telehealth.accounts.repository import AccountsRepository
from telehealth.auth.audit import AuditContext, AuditLog, audit_refusal
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import Conflict, ErrorCode, InvalidInput, NotFound, Unprocessable
from telehealth.outbox.writer import Outbox
from telehealth.rooms.models import RoomKind
from telehealth.rooms.subjects import end_room_of, room_for
from telehealth.scheduling import notices, policy
from telehealth.scheduling import schemas as s
from telehealth.scheduling.free import PractitionerRow, as_instant, find_slot
from telehealth.scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
)
from telehealth.scheduling.render import booked_on_behalf, render_appointments, render_one
from telehealth.scheduling.repository import SchedulingRepository, either
from telehealth.scheduling.search import SlotSearch
from telehealth.scheduling.slots import (
    blocks_of,
    parse_slot_id,
    slot_id,
)


class _Taken(Exception):
    """Raised inside a unit of work when the database refused the booking."""

    def __init__(self, code: ErrorCode) -> None:
        self.code = code


class AppointmentService:
    """Booking, rescheduling, cancelling, check-in and closing appointments."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        search: SlotSearch,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._search = search
        self._clock = clock

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessionmaker)

    async def book(
        self, principal: Principal, ctx: AuditContext, data: s.AppointmentCreate
    ) -> s.AppointmentOut:
        """Book a free slot; a lost race answers 409 `slot_taken` with the next free slots."""
        practitioner_id, _ = parse_slot_id(data.slot_id)
        try:
            async with self._uow() as uow:
                repo = SchedulingRepository(uow.session)
                slot, row = await find_slot(repo, data.slot_id, self._clock())
                patient = await self._patient_for(uow, principal, data.patient_id, row[2].id)
                appt = Appointment(
                    practitioner_id=row[0].id,
                    patient_id=patient.id,
                    facility_id=row[2].id,
                    slot_id=slot_id(row[0].id, slot.start),
                    start_at=slot.start,
                    end_at=slot.end,
                    mode=data.mode.value,
                    reason=data.reason,
                    companion=data.companion or None,
                    status=AppointmentStatus.BOOKED.value,
                    booked_by=principal.user_id,
                    version=1,
                )
                repo.add(appt)
                await self._hold(uow, repo, appt, row, patient)
                room = await room_for(
                    uow.session, RoomKind.VISIT, appt.id, appt.start_at, appt.end_at
                )
                appt.room_id = room.id
                await self._notify(uow, appt, row, patient, "booked")
                await AuditLog(uow.session, ctx).record(
                    "appointment.book",
                    "appointment",
                    appt.id,
                    {
                        "slot_id": appt.slot_id,
                        "patient_id": patient.id,
                        "on_behalf": booked_on_behalf(appt, patient),
                    },
                )
                # Render inside the transaction: after commit it would open another.
                out = await render_one(repo, appt)
                await uow.commit()
                return out
        except _Taken as taken:
            raise await self._taken_error(taken.code, practitioner_id) from None

    async def _patient_for(
        self, uow: UnitOfWork, principal: Principal, patient_id: str | None, facility_id: str
    ) -> Patient:
        accounts = AccountsRepository(uow.session)
        if patient_id is None:
            own = await accounts.patient_of_user(principal.user_id)
            if own is None:
                raise InvalidInput("patient_id is required when booking for someone else.")
            return own
        return policy.ensure_may_book(principal, await accounts.patient(patient_id), facility_id)

    async def _hold(
        self,
        uow: UnitOfWork,
        repo: SchedulingRepository,
        appt: Appointment,
        row: PractitionerRow,
        patient: Patient,
    ) -> None:
        # Each flush is its own check, so the error says which rule was broken.
        try:
            await uow.flush()
        except IntegrityError:
            raise _Taken(ErrorCode.SLOT_TAKEN) from None
        blocks = blocks_of(appt.start_at, appt.end_at)
        try:
            await repo.add_holds(appt, [f"practitioner:{row[0].id}"], blocks)
        except IntegrityError:
            raise _Taken(ErrorCode.SLOT_TAKEN) from None
        try:
            await repo.add_holds(appt, [f"patient:{patient.id}"], blocks)
        except IntegrityError:
            raise _Taken(ErrorCode.OVERLAPPING_APPOINTMENT) from None

    async def _taken_error(self, code: ErrorCode, practitioner_id: str) -> Conflict:
        next_slots = [
            n.model_dump(mode="json") for n in await self._search.next_free(practitioner_id)
        ]
        detail = (
            "Someone else booked this slot a moment ago."
            if code == ErrorCode.SLOT_TAKEN
            else "The patient already has an appointment at this time."
        )
        return Conflict(detail, code=code, extra={"next_slots": next_slots})

    async def _notify(
        self,
        uow: UnitOfWork,
        appt: Appointment,
        row: PractitionerRow,
        patient: Patient,
        kind: str,
        reason: str = "",
    ) -> None:
        contact = await self._contact(uow, patient)
        visit = notices.Visit(
            appointment_id=appt.id,
            version=appt.version,
            start=appt.start_at,
            mode=appt.mode,
            doctor=row[1].full_name,
            facility=row[2].name,
            timezone=row[2].timezone,
        )
        now = self._clock()
        if kind == "cancelled":
            messages = notices.cancellation_messages(visit, contact, now, reason)
        else:
            messages = notices.booking_messages(
                visit, contact, now, self._settings.reminder_offsets, kind
            )
        outbox = Outbox(uow.session)
        if kind != "booked":
            await outbox.withdraw("appointment", appt.id, "appointment.reminder")
        await outbox.queue(messages)

    async def _contact(self, uow: UnitOfWork, patient: Patient) -> notices.Contact:
        user = await uow.session.get(User, patient.user_id) if patient.user_id else None
        locale = (user.locale if user else None) or self._settings.default_locale
        return notices.Contact(
            email=user.email if user else None,
            phone=patient.phone or (user.phone if user else None),
            locale=locale,
            user_id=user.id if user else None,
        )

    async def _parties(
        self,
        repo: SchedulingRepository,
        principal: Principal,
        appointment_id: str,
        lock: bool = False,
    ) -> tuple[policy.AppointmentParties, PractitionerRow]:
        appt = await repo.appointment(appointment_id, lock=lock)
        row = await repo.practitioner(appt.practitioner_id) if appt else None
        patient = await repo.session.get(Patient, appt.patient_id) if appt else None
        parties = (
            policy.AppointmentParties(appt, row[1].id, patient)
            if appt and row and patient
            else None
        )
        visible = policy.ensure_visible(principal, parties)
        assert row is not None
        return visible, row

    async def get(
        self, principal: Principal, ctx: AuditContext, appointment_id: str
    ) -> s.AppointmentOut:
        """One appointment, for its parties; the read is audited."""
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            try:
                parties, _ = await self._parties(repo, principal, appointment_id)
            except NotFound:
                await audit_refusal(uow, ctx, "appointment", await repo.appointment(appointment_id))
                raise
            await AuditLog(uow.session, ctx).record(
                "appointment.read", "appointment", appointment_id
            )
            out = await render_one(repo, parties.appointment, viewer=principal.user_id)
            await uow.commit()
            return out

    async def appointment_for_calendar(
        self, principal: Principal, ctx: AuditContext, appointment_id: str
    ) -> tuple[s.AppointmentOut, str]:
        """An appointment and its facility's time zone, for the iCalendar file; audited."""
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            parties, row = await self._parties(repo, principal, appointment_id)
            await AuditLog(uow.session, ctx).record(
                "appointment.read", "appointment", appointment_id, {"as": "icalendar"}
            )
            out = await render_one(repo, parties.appointment), row[2].timezone
            await uow.commit()
            return out

    async def cancel(
        self, principal: Principal, ctx: AuditContext, appointment_id: str, data: s.CancelIn
    ) -> s.AppointmentOut:
        """Cancel with a reason: the time is freed, reminders withdrawn, the patient told."""
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            parties, row = await self._parties(repo, principal, appointment_id, lock=True)
            appt = parties.appointment
            _require(appt, {AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN}, "cancelled")
            appt.status = AppointmentStatus.CANCELLED.value
            appt.cancel_reason = data.reason
            appt.cancelled_by = principal.user_id
            appt.version += 1  # calendars see the change (SEQUENCE)
            await repo.release_holds(appt.id)
            await uow.flush()
            await end_room_of(uow.session, RoomKind.VISIT, appt.id, "cancelled")
            await self._notify(uow, appt, row, parties.patient, "cancelled", data.reason)
            await AuditLog(uow.session, ctx).record(
                "appointment.cancel", "appointment", appt.id, {"reason": data.reason}
            )
            out = await render_one(repo, appt)
            await uow.commit()
            return out

    async def reschedule(
        self, principal: Principal, ctx: AuditContext, appointment_id: str, data: s.RescheduleIn
    ) -> s.AppointmentOut:
        """Move to another free slot of the same practitioner, atomically."""
        try:
            async with self._uow() as uow:
                repo = SchedulingRepository(uow.session)
                parties, row = await self._parties(repo, principal, appointment_id, lock=True)
                appt = parties.appointment
                _require(appt, {AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN}, "moved")
                slot, new_row = await find_slot(repo, data.slot_id, self._clock())
                if new_row[0].id != appt.practitioner_id:
                    raise InvalidInput("A reschedule keeps the practitioner; book anew instead.")
                old = appt.slot_id
                await repo.release_holds(appt.id)
                appt.slot_id = slot_id(row[0].id, slot.start)
                appt.start_at, appt.end_at = slot.start, slot.end
                appt.status = AppointmentStatus.BOOKED.value
                appt.checked_in_at = None
                appt.version += 1
                await self._hold(uow, repo, appt, row, parties.patient)
                room = await room_for(
                    uow.session, RoomKind.VISIT, appt.id, appt.start_at, appt.end_at
                )
                appt.room_id = room.id
                await self._notify(uow, appt, row, parties.patient, "rescheduled")
                await AuditLog(uow.session, ctx).record(
                    "appointment.reschedule",
                    "appointment",
                    appt.id,
                    {"from": old, "to": appt.slot_id, "reason": data.reason},
                )
                out = await render_one(repo, appt)
                await uow.commit()
                return out
        except _Taken as taken:
            raise await self._taken_error(taken.code, parse_slot_id(data.slot_id)[0]) from None

    async def check_in(
        self, principal: Principal, ctx: AuditContext, appointment_id: str
    ) -> s.AppointmentOut:
        """The patient has arrived in the waiting room (from an hour before the start)."""
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            parties, _ = await self._parties(repo, principal, appointment_id, lock=True)
            appt = parties.appointment
            now = self._clock()
            if appt.status == AppointmentStatus.CHECKED_IN.value:
                return await render_one(repo, appt)
            _require(appt, {AppointmentStatus.BOOKED}, "checked in")
            if not appt.start_at - self._settings.rooms.opens_before <= now < appt.end_at:
                raise Unprocessable("Check-in opens an hour before the appointment.")
            appt.status = AppointmentStatus.CHECKED_IN.value
            appt.checked_in_at = now
            await AuditLog(uow.session, ctx).record("appointment.check_in", "appointment", appt.id)
            out = await render_one(repo, appt)
            await uow.commit()
            return out

    async def close(
        self,
        principal: Principal,
        ctx: AuditContext,
        appointment_id: str,
        status: AppointmentStatus,
    ) -> s.AppointmentOut:
        """Mark no-show or completed, once the appointment has started."""
        allowed = {
            AppointmentStatus.NO_SHOW: {AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN},
            AppointmentStatus.COMPLETED: set(ACTIVE_STATUSES),
        }[status]
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            parties, _ = await self._parties(repo, principal, appointment_id, lock=True)
            policy.ensure_may_close(principal, parties)
            appt = parties.appointment
            _require(appt, allowed, status.value)
            if self._clock() < appt.start_at:
                raise Unprocessable("The appointment has not started yet.")
            appt.status = status.value
            await end_room_of(uow.session, RoomKind.VISIT, appt.id, status.value)
            await Outbox(uow.session).withdraw("appointment", appt.id, "appointment.reminder")
            await AuditLog(uow.session, ctx).record(
                f"appointment.{status.value}", "appointment", appt.id
            )
            out = await render_one(repo, appt)
            await uow.commit()
            return out

    async def list_appointments(
        self, principal: Principal, ctx: AuditContext, query: s.AppointmentQuery
    ) -> s.AppointmentPage:
        """The caller's appointments: own (patients), own schedule, facility (coordinators).

        One audit event names the appointments shown (they carry the reason for the visit).
        """
        tz = ZoneInfo(self._settings.default_timezone)
        async with self._uow() as uow:
            repo = SchedulingRepository(uow.session)
            scope = await self._scope(uow, repo, principal)
            filters: list[ColumnElement[bool]] = []
            if query.status:
                filters.append(Appointment.status == query.status.value)
            if query.active is not None:
                live = Appointment.status.in_([a.value for a in ACTIVE_STATUSES])
                filters.append(live if query.active else ~live)
            if query.practitioner_id:
                filters.append(Appointment.practitioner_id == query.practitioner_id)
            if query.patient_id:
                filters.append(Appointment.patient_id == query.patient_id)
            if query.from_ is not None:
                filters.append(Appointment.end_at > as_instant(query.from_, tz, end_of_day=False))
            if query.to is not None:
                filters.append(Appointment.start_at < as_instant(query.to, tz, end_of_day=True))
            page = await repo.appointments(scope, filters, query.limit, query.cursor)
            items = await render_appointments(repo, list(page.items), viewer=principal.user_id)
            if items:
                await AuditLog(uow.session, ctx).record(
                    "appointment.list", "appointment", None, {"ids": [a.id for a in items]}
                )
                await uow.commit()
            return s.AppointmentPage(items=items, next=page.next)

    async def _scope(
        self, uow: UnitOfWork, repo: SchedulingRepository, principal: Principal
    ) -> ColumnElement[bool]:
        if principal.has(Role.ADMIN):
            return true()
        conditions: list[ColumnElement[bool]] = [Appointment.booked_by == principal.user_id]
        own = await AccountsRepository(uow.session).patient_of_user(principal.user_id)
        if own is not None:
            conditions.append(Appointment.patient_id == own.id)
        practitioner = await repo.practitioner_of_user(principal.user_id)
        if practitioner is not None:
            conditions.append(Appointment.practitioner_id == practitioner.id)
        if principal.has(Role.COORDINATOR) and principal.facility_id:
            conditions.append(Appointment.facility_id == principal.facility_id)
            conditions.append(
                Appointment.patient_id.in_(
                    select(Patient.id).where(Patient.home_facility_id == principal.facility_id)
                )
            )
        return either(*conditions)


def _require(appt: Appointment, allowed: set[AppointmentStatus], verb: str) -> None:
    if AppointmentStatus(appt.status) not in allowed:
        raise Conflict(
            f"An appointment that is {appt.status} cannot be {verb}.",
            code=ErrorCode.INVALID_TRANSITION,
        )
