"""Teaching-session use cases, one unit of work each: a trainer schedules and cancels
sessions and reads enrolments and attendance; trainees of invited facilities see, enrol
and cancel their enrolment. Strangers learn nothing, not even that a session exists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts.models import Facility, Role, User
from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.db.base import utcnow
from telehealth.db.pagination import Page, decode_cursor
from telehealth.db.uow import UnitOfWork
from telehealth.errors import Conflict, ErrorCode, InvalidInput, NotFound, Unprocessable
from telehealth.outbox.writer import Outbox
from telehealth.rooms.models import Room, RoomKind, RoomState
from telehealth.rooms.service import opens_at
from telehealth.rooms.subjects import end_room_of, room_for
from telehealth.scheduling.schemas import PersonRef
from telehealth.teaching import notices
from telehealth.teaching import schemas as s
from telehealth.teaching.models import (
    Enrolment,
    EnrolmentStatus,
    SessionStatus,
    TeachingInvite,
    TeachingSession,
)
from telehealth.teaching.register import attendance_of
from telehealth.teaching.repository import TeachingRepository

__all__ = ["Certificate", "TeachingService"]

NO_SUCH_SESSION = "No such teaching session."


@dataclass(frozen=True)
class Certificate:
    """What a printed certificate of attendance says."""

    session: s.SessionOut
    attendee: s.AttendeeOut


class TeachingService:
    """Teaching sessions, enrolments and attendance."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock

    # -- the trainer ----------------------------------------------------------------------

    async def create(
        self, principal: Principal, ctx: AuditContext, data: s.SessionIn
    ) -> s.SessionOut:
        """Schedule a session for the invited facilities; it gets its relay room."""
        if data.starts_at <= self._clock():
            raise InvalidInput("The session must start in the future.")
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = TeachingRepository(uow.session)
            facilities = set(data.facility_ids)
            for facility_id in facilities:
                if await uow.session.get(Facility, facility_id) is None:
                    raise InvalidInput("facility_ids names no facility.")
            row = TeachingSession(
                trainer_id=principal.user_id,
                title=data.title,
                topic=data.topic,
                starts_at=data.starts_at,
                ends_at=data.ends_at,
                capacity=data.capacity,
                enrolled=0,
                status=SessionStatus.SCHEDULED.value,
            )
            repo.add(row)
            await uow.session.flush()
            for facility_id in sorted(facilities):
                repo.add(TeachingInvite(session_id=row.id, facility_id=facility_id))
            room = await room_for(
                uow.session, RoomKind.TEACHING, row.id, data.starts_at, data.ends_at
            )
            row.room_id = room.id
            await AuditLog(uow.session, ctx).record(
                "teaching.create",
                "teaching_session",
                row.id,
                {"capacity": data.capacity, "facilities": sorted(facilities)},
            )
            out = await self._render(repo, principal, [row])
            await uow.commit()
        return out[0]

    async def cancel(
        self, principal: Principal, ctx: AuditContext, session_id: str
    ) -> s.SessionOut:
        """Call a session off: its room ends, reminders are withdrawn, trainees are told."""
        now = self._clock()
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = TeachingRepository(uow.session)
            row = await self._own(repo, principal, session_id, lock=True)
            if row.status == SessionStatus.CANCELLED.value:
                raise Unprocessable("The session is already cancelled.")
            if row.ends_at <= now:
                raise Unprocessable("The session is over; it cannot be cancelled.")
            row.status = SessionStatus.CANCELLED.value
            await end_room_of(uow.session, RoomKind.TEACHING, row.id, "cancelled")
            outbox = Outbox(uow.session)
            for enrolment, user in await repo.enrolments(row.id):
                if enrolment.status != EnrolmentStatus.ENROLLED.value:
                    continue
                await outbox.withdraw(notices.OBJECT_TYPE, enrolment.id, notices.REMINDER_TOPIC)
                lesson = self._lesson(row, enrolment)
                await outbox.queue(notices.cancellation_messages(lesson, _trainee(user), now))
            await AuditLog(uow.session, ctx).record("teaching.cancel", "teaching_session", row.id)
            out = await self._render(repo, principal, [row])
            await uow.commit()
        return out[0]

    async def enrolments(
        self, principal: Principal, ctx: AuditContext, session_id: str
    ) -> list[s.EnrolmentOut]:
        """Who enrolled (and who cancelled), for the session's trainer; audited."""
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = TeachingRepository(uow.session)
            row = await self._own(repo, principal, session_id)
            rows = await repo.enrolments(row.id)
            await AuditLog(uow.session, ctx).record(
                "teaching.read", "teaching_session", row.id, {"part": "enrolments"}
            )
            await uow.commit()
        return [_enrolment_out(e, u) for e, u in rows]

    async def attendance(
        self, principal: Principal, ctx: AuditContext, session_id: str
    ) -> s.AttendanceOut:
        """Minutes present per trainee (and the trainer) from the room's log; audited."""
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = TeachingRepository(uow.session)
            row = await self._own(repo, principal, session_id)
            out = await attendance_of(repo, row, self._settings, self._clock())
            await AuditLog(uow.session, ctx).record(
                "teaching.read", "teaching_session", row.id, {"part": "attendance"}
            )
            await uow.commit()
        return out

    # -- trainees -------------------------------------------------------------------------

    async def enrol(
        self, principal: Principal, ctx: AuditContext, session_id: str
    ) -> s.EnrolmentOut:
        """Take a place (capacity enforced by the database); confirmation and reminders go
        through the outbox in the same transaction."""
        try:
            return await self._enrol(principal, ctx, session_id)
        except IntegrityError:
            # The same trainee enrolled twice at the same moment: the other request won.
            raise Conflict(
                "You are already enrolled in this session.", code=ErrorCode.ALREADY_EXISTS
            ) from None

    async def _enrol(
        self, principal: Principal, ctx: AuditContext, session_id: str
    ) -> s.EnrolmentOut:
        now = self._clock()
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = TeachingRepository(uow.session)
            row = await self._visible(repo, principal, session_id)
            if row.status != SessionStatus.SCHEDULED.value or row.ends_at <= now:
                raise Unprocessable("This session is not open for enrolment.")
            if not await repo.take_place(row.id):
                raise Conflict("The session is full.", code=ErrorCode.SESSION_FULL)
            enrolment = await repo.enrolment(row.id, principal.user_id)
            if enrolment is not None and enrolment.status == EnrolmentStatus.ENROLLED.value:
                raise Conflict(
                    "You are already enrolled in this session.", code=ErrorCode.ALREADY_EXISTS
                )
            if enrolment is None:
                enrolment = Enrolment(session_id=row.id, trainee_id=principal.user_id)
                repo.add(enrolment)
            enrolment.status = EnrolmentStatus.ENROLLED.value
            enrolment.enrolled_at, enrolment.cancelled_at = now, None
            await uow.session.flush()
            user = await uow.session.get(User, principal.user_id)
            assert user is not None
            messages = notices.enrolment_messages(
                self._lesson(row, enrolment),
                _trainee(user),
                now,
                self._settings.reminder_offsets,
                now.strftime("%Y%m%dT%H%M%S%f"),
            )
            await Outbox(uow.session).queue(messages)
            await AuditLog(uow.session, ctx).record(
                "teaching.enrol", "teaching_session", row.id, {"enrolment_id": enrolment.id}
            )
            out = _enrolment_out(enrolment, user)
            await uow.commit()
        return out

    async def cancel_enrolment(
        self, principal: Principal, ctx: AuditContext, session_id: str
    ) -> s.EnrolmentOut:
        """Give the place back; reminders not yet sent are withdrawn."""
        now = self._clock()
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = TeachingRepository(uow.session)
            row = await self._visible(repo, principal, session_id)
            enrolment = await repo.enrolment(row.id, principal.user_id)
            if enrolment is None or enrolment.status != EnrolmentStatus.ENROLLED.value:
                raise NotFound("You are not enrolled in this session.")
            enrolment.status = EnrolmentStatus.CANCELLED.value
            enrolment.cancelled_at = now
            await repo.give_back_place(row.id)
            await Outbox(uow.session).withdraw(
                notices.OBJECT_TYPE, enrolment.id, notices.REMINDER_TOPIC
            )
            await AuditLog(uow.session, ctx).record(
                "teaching.unenrol", "teaching_session", row.id, {"enrolment_id": enrolment.id}
            )
            user = await uow.session.get(User, principal.user_id)
            assert user is not None
            out = _enrolment_out(enrolment, user)
            await uow.commit()
        return out

    async def certificate(self, principal: Principal, session_id: str) -> Certificate:
        """The trainee's own certificate, once they attended the required share."""
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            repo = TeachingRepository(uow.session)
            row = await self._visible(repo, principal, session_id)
            attendance = await attendance_of(repo, row, self._settings, self._clock())
            mine = next((a for a in attendance.items if a.user_id == principal.user_id), None)
            if mine is None or not mine.certified or mine.role != "trainee":
                raise NotFound("No certificate: attendance below the required share.")
            out = await self._render(repo, principal, [row])
        return Certificate(out[0], mine)

    # -- both -----------------------------------------------------------------------------

    async def get(self, principal: Principal, session_id: str) -> s.SessionOut:
        """One session, for its trainer or a trainee of an invited facility."""
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            repo = TeachingRepository(uow.session)
            row = await self._visible(repo, principal, session_id)
            return (await self._render(repo, principal, [row]))[0]

    async def list_sessions(
        self, principal: Principal, limit: int, cursor: str | None
    ) -> s.SessionPage:
        """A trainer's own sessions; a trainee's sessions open to their facility."""
        if cursor is not None:
            decode_cursor(cursor)
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            repo = TeachingRepository(uow.session)
            page: Page[TeachingSession]
            if principal.has(Role.TRAINER):
                page = await repo.by_trainer(principal.user_id, limit, cursor)
            elif principal.facility_id is not None:
                page = await repo.open_to(principal.facility_id, limit, cursor)
            else:
                page = Page(items=[], next=None)
            items = await self._render(repo, principal, list(page.items))
        return s.SessionPage(items=items, next=page.next)

    async def _own(
        self, repo: TeachingRepository, principal: Principal, session_id: str, lock: bool = False
    ) -> TeachingSession:
        row = await repo.teaching_session(session_id, lock=lock)
        if row is None or row.trainer_id != principal.user_id:
            raise NotFound(NO_SUCH_SESSION)
        return row

    async def _visible(
        self, repo: TeachingRepository, principal: Principal, session_id: str
    ) -> TeachingSession:
        row = await repo.teaching_session(session_id)
        if row is None:
            raise NotFound(NO_SUCH_SESSION)
        if row.trainer_id == principal.user_id:
            return row
        invited = principal.has(Role.TRAINEE) and principal.facility_id in await repo.invited(
            row.id
        )
        if not invited:
            raise NotFound(NO_SUCH_SESSION)
        return row

    async def _render(
        self, repo: TeachingRepository, principal: Principal, rows: list[TeachingSession]
    ) -> list[s.SessionOut]:
        ids = [r.id for r in rows]
        invites = await repo.invites_by_session(ids)
        rooms = await repo.rooms([r.room_id for r in rows if r.room_id])
        trainers = await repo.users({r.trainer_id for r in rows})
        mine = await repo.enrolments_of(principal.user_id, ids)
        now = self._clock()
        return [
            s.SessionOut(
                id=r.id,
                title=r.title,
                topic=r.topic,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                capacity=r.capacity,
                enrolled=r.enrolled,
                status=SessionStatus(r.status),
                trainer=PersonRef(id=r.trainer_id, full_name=trainers[r.trainer_id].full_name),
                facility_ids=sorted(invites[r.id]),
                room_id=r.room_id,
                room_state=rooms[r.room_id].state if r.room_id in rooms else None,
                joinable=self._joinable(rooms.get(r.room_id or ""), now),
                your_enrolment=EnrolmentStatus(mine[r.id]) if r.id in mine else None,
            )
            for r in rows
        ]

    def _joinable(self, room: Room | None, now: datetime) -> bool:
        if room is None or room.state == RoomState.ENDED.value:
            return False
        opening = opens_at(room, self._settings)
        return room.state != RoomState.SCHEDULED.value or opening is None or now >= opening

    def _lesson(self, row: TeachingSession, enrolment: Enrolment) -> notices.Lesson:
        return notices.Lesson(
            enrolment.id, row.title, row.starts_at, self._settings.default_timezone
        )


def _trainee(user: User) -> notices.Trainee:
    return notices.Trainee(user.id, user.email, user.phone, user.locale or "vi")


def _enrolment_out(enrolment: Enrolment, user: User) -> s.EnrolmentOut:
    return s.EnrolmentOut(
        session_id=enrolment.session_id,
        trainee=PersonRef(id=user.id, full_name=user.full_name),
        facility_id=user.facility_id,
        status=EnrolmentStatus(enrolment.status),
        enrolled_at=enrolment.enrolled_at,
        cancelled_at=enrolment.cancelled_at,
    )
