"""Room use cases over HTTP, one unit of work each: join (a signed token and the ICE
servers), the room's state and waiting list, its event log, and the visit's outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.db.base import utcnow
from telehealth.db.pagination import decode_cursor
from telehealth.db.uow import UnitOfWork
from telehealth.errors import Conflict, ErrorCode, Forbidden, NotFound, Unprocessable
from telehealth.rooms import schemas as s
from telehealth.rooms.models import Room, RoomKind, RoomOutcome, RoomPresence, RoomState
from telehealth.rooms.parties import Parties, PeerRole, peer_id_for
from telehealth.rooms.render import render_outcome, render_presence
from telehealth.rooms.repository import RoomRepository
from telehealth.rooms.states import RoomTrigger, ensure_transition
from telehealth.rooms.tokens import JoinClaims, JoinTokens, turn_credentials
from telehealth.scheduling.models import ACTIVE_STATUSES, AppointmentStatus

__all__ = ["NAMESPACE", "SOCKETIO_PATH", "RoomService", "open_if_due"]

NAMESPACE = "/rtc"
SOCKETIO_PATH = "/socket.io"
NO_SUCH_ROOM = "No such room."


async def open_if_due(
    repo: RoomRepository, room: Room, parties: Parties, settings: Settings, now: datetime
) -> RoomState:
    """The room's state for someone arriving now: a scheduled room whose opening time has
    come opens (compare-and-set, so two nodes agree); ended and not-yet-open refuse."""
    state = RoomState(room.state)
    if state is RoomState.ENDED or not parties.active:
        raise Unprocessable("This session has ended.", code=ErrorCode.ROOM_ENDED)
    if state is not RoomState.SCHEDULED:
        return state
    opens = opens_at(room, settings)
    if opens is not None and now < opens:
        raise Unprocessable(
            "The room is not open yet.",
            code=ErrorCode.ROOM_NOT_OPEN,
            extra={"opens_at": opens.isoformat()},
        )
    target = ensure_transition(state, RoomTrigger.OPEN)
    if await repo.move(room.id, state, target):
        repo.log(room.id, "opened")
    return target


def opens_at(room: Room, settings: Settings) -> datetime | None:
    """When the room opens to its parties."""
    if room.scheduled_at is None:
        return None
    return room.scheduled_at - settings.rooms.opens_before


class RoomService:
    """Joining rooms, reading them, and recording a visit's outcome."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock
        self.tokens = JoinTokens(settings.secret_key)

    async def join(self, principal: Principal, ctx: AuditContext, room_id: str) -> s.JoinOut:
        """A join token for a party of an open room, with the signalling address and ICE."""
        now = self._clock()
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            room, parties, role = await self._party(repo, principal, room_id)
            state = await open_if_due(repo, room, parties, self._settings, now)
            if role is PeerRole.PATIENT and parties.appointment_id:
                await self._check_in(repo, parties.appointment_id, now)
            await AuditLog(uow.session, ctx).record(
                "room.join", "room", room.id, {"kind": room.kind, "role": role.value}
            )
            await uow.commit()
        expires = now + self._settings.rooms.join_token_lifetime
        peer_id = peer_id_for(room.id, principal.user_id)
        token = self.tokens.issue(JoinClaims(principal.user_id, room.id, role, peer_id, expires))
        return s.JoinOut(
            room_id=room.id,
            token=token,
            expires_at=expires,
            signalling_url=self._settings.public_url,
            namespace=NAMESPACE,
            path=SOCKETIO_PATH,
            mode=room.mode,
            role=role,
            peer_id=peer_id,
            state=state,
            ice_servers=self._ice_servers(principal.user_id, expires),
        )

    async def _check_in(self, repo: RoomRepository, appointment_id: str, now: datetime) -> None:
        # The patient's side arriving in the room is the check-in.
        appt = await repo.appointment(appointment_id)
        if appt is not None and appt.status == AppointmentStatus.BOOKED.value:
            appt.status = AppointmentStatus.CHECKED_IN.value
            appt.checked_in_at = now

    def _ice_servers(self, user_id: str, expires: datetime) -> list[s.IceServerOut]:
        rooms = self._settings.rooms
        servers = [
            s.IceServerOut(urls=list(i.urls), username=i.username, credential=i.credential)
            for i in self._settings.ice_servers
        ]
        if rooms.turn_secret and rooms.turn_urls:
            username, password = turn_credentials(rooms.turn_secret, user_id, expires)
            servers.append(
                s.IceServerOut(urls=list(rooms.turn_urls), username=username, credential=password)
            )
        return servers

    async def view(self, principal: Principal, room_id: str) -> s.RoomOut:
        """The room's state and who is in it; the host also sees who waits."""
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            repo = RoomRepository(uow.session)
            room, _, role = await self._party(repo, principal, room_id)
            present = await repo.presence(room.id)
            outcome = await repo.outcome(room.id)
            return self._render_room(room, role, present, outcome)

    def _render_room(
        self,
        room: Room,
        role: PeerRole,
        present: list[RoomPresence],
        outcome: RoomOutcome | None,
    ) -> s.RoomOut:
        admitted = [render_presence(p) for p in present if p.admitted]
        waiting = [render_presence(p) for p in present if not p.admitted]
        return s.RoomOut(
            id=room.id,
            kind=room.kind,
            mode=room.mode,
            state=room.state,
            subject_id=room.subject_id,
            scheduled_at=room.scheduled_at,
            ends_at=room.ends_at,
            opens_at=opens_at(room, self._settings),
            live_at=room.live_at,
            ended_at=room.ended_at,
            your_role=role,
            participants=admitted,
            waiting=waiting if role is PeerRole.HOST else None,
            outcome_version=outcome.version if outcome else None,
        )

    async def waiting_since(self, room_ids: list[str]) -> dict[str, datetime]:
        """Since when someone waits in each of these rooms (for a host's day schedule,
        whose appointments the caller was already allowed to list)."""
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            return await RoomRepository(uow.session).waiting_since(room_ids)

    async def events(
        self, principal: Principal, ctx: AuditContext, room_id: str, limit: int, cursor: str | None
    ) -> s.EventPage:
        """The room's log, oldest first (chat included, so the read is audited)."""
        if cursor is not None:
            decode_cursor(cursor)  # bad input is a 400 before anything is looked up
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            room, _, _ = await self._party(repo, principal, room_id)
            page = await repo.events(room.id, limit, cursor)
            audit = AuditLog(uow.session, ctx)
            await audit.record("room.read", "room", room.id, {"part": "events"})
            await uow.commit()
        items = [s.RoomEventOut.model_validate(e) for e in page.items]
        return s.EventPage(items=items, next=page.next)

    async def outcome(self, principal: Principal, ctx: AuditContext, room_id: str) -> s.OutcomeOut:
        """The current version of the visit's outcome."""
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            room, parties, _ = await self._party(repo, principal, room_id)
            current = await repo.outcome(room.id)
            if current is None:
                raise NotFound("No outcome has been recorded for this room.")
            await AuditLog(uow.session, ctx).record(
                "room.read", "room", room.id, {"part": "outcome", "version": current.version}
            )
            await uow.commit()
        return render_outcome(current, parties.appointment_id)

    async def encounter(
        self, principal: Principal, ctx: AuditContext, room_id: str
    ) -> s.EncounterFacts:
        """What a FHIR Encounter of a visit says: its times, people and outcome; audited."""
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            room, parties, _ = await self._party(repo, principal, room_id)
            if room.kind != RoomKind.VISIT.value or parties.appointment_id is None:
                raise NotFound(NO_SUCH_ROOM)
            appt = await repo.appointment(parties.appointment_id)
            assert appt is not None
            current = await repo.outcome(room.id)
            await AuditLog(uow.session, ctx).record(
                "room.read", "room", room.id, {"part": "encounter"}
            )
            facts = s.EncounterFacts(
                room_id=room.id,
                state=room.state,
                appointment_id=appt.id,
                patient_id=appt.patient_id,
                practitioner_id=appt.practitioner_id,
                mode=appt.mode,
                reason=appt.reason,
                appointment_status=appt.status,
                started=room.live_at,
                ended=room.ended_at,
                outcome=render_outcome(current, appt.id) if current else None,
            )
            await uow.commit()
        return facts

    async def record_outcome(
        self,
        principal: Principal,
        ctx: AuditContext,
        room_id: str,
        data: s.OutcomeIn,
        key: str | None,
    ) -> tuple[s.OutcomeOut, bool]:
        """Write the outcome once (a retry with the same key answers the same version), end
        the room and complete the appointment in one transaction; a correction is a new
        version that names its reason. Returns the outcome and whether it is new."""
        try:
            return await self._record_outcome(principal, ctx, room_id, data, key)
        except IntegrityError:
            # Two writes raced for one version or one key: the loser reads what won.
            if key is not None:
                async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
                    repo = RoomRepository(uow.session)
                    room, parties, _ = await self._party(repo, principal, room_id)
                    won = await repo.outcome_by_key(room.id, key)
                    if won is not None:
                        return render_outcome(won, parties.appointment_id), False
            raise Conflict(
                "Someone recorded the outcome at the same moment; reload and correct it.",
                code=ErrorCode.OUTCOME_EXISTS,
            ) from None

    async def _record_outcome(
        self,
        principal: Principal,
        ctx: AuditContext,
        room_id: str,
        data: s.OutcomeIn,
        key: str | None,
    ) -> tuple[s.OutcomeOut, bool]:
        now = self._clock()
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            room, parties, role = await self._party(repo, principal, room_id)
            if role is not PeerRole.HOST:
                raise Forbidden("Only the clinician who holds the visit records its outcome.")
            if room.kind != RoomKind.VISIT.value:
                raise Unprocessable("A consult's outcome is its signed opinion.")
            if key is not None and (done := await repo.outcome_by_key(room.id, key)):
                return render_outcome(done, parties.appointment_id), False
            current = await repo.outcome(room.id)
            if current is not None and data.reason is None:
                raise Conflict(
                    "The outcome is already recorded; a correction needs a reason.",
                    code=ErrorCode.OUTCOME_EXISTS,
                    extra={"version": current.version},
                )
            appt = await repo.appointment(parties.appointment_id or "")
            closable = {st.value for st in ACTIVE_STATUSES} | {AppointmentStatus.COMPLETED.value}
            if appt is None or appt.status not in closable:
                raise Unprocessable("This visit was cancelled or missed; it has no outcome.")
            row = _outcome_row(room.id, principal.user_id, data, key, current, now)
            repo.add(row)
            await uow.flush()
            await self._end_with_outcome(repo, room, now)
            if appt.status != AppointmentStatus.COMPLETED.value:
                appt.status = AppointmentStatus.COMPLETED.value
            repo.log(room.id, "outcome_recorded", principal.user_id, version=row.version)
            await AuditLog(uow.session, ctx).record(
                "room.outcome",
                "room",
                room.id,
                {"version": row.version, "appointment_id": appt.id, "reason": data.reason},
            )
            await uow.commit()
        return render_outcome(row, parties.appointment_id), True

    async def _end_with_outcome(self, repo: RoomRepository, room: Room, now: datetime) -> None:
        state = RoomState(room.state)
        if state is RoomState.ENDED:
            return
        target = ensure_transition(state, RoomTrigger.END)
        if await repo.move(room.id, state, target, ended_at=now):
            repo.log(room.id, "ended", reason="outcome")

    async def _party(
        self, repo: RoomRepository, principal: Principal, room_id: str
    ) -> tuple[Room, Parties, PeerRole]:
        room = await repo.room(room_id)
        if room is None:
            raise NotFound(NO_SUCH_ROOM)
        parties = await repo.parties(room)
        role = parties.role_of(principal.user_id)
        if role is None:
            # A stranger learns nothing, not even that the room exists.
            raise NotFound(NO_SUCH_ROOM)
        return room, parties, role


def _outcome_row(
    room_id: str,
    author_id: str,
    data: s.OutcomeIn,
    key: str | None,
    current: RoomOutcome | None,
    now: datetime,
) -> RoomOutcome:
    return RoomOutcome(
        room_id=room_id,
        version=current.version + 1 if current else 1,
        author_id=author_id,
        idempotency_key=key,
        summary=data.summary,
        diagnosis_code=data.diagnosis.code,
        diagnosis_text=data.diagnosis.text,
        plan=data.plan,
        prescriptions=data.prescriptions,
        disposition=data.disposition.value,
        follow_up=data.follow_up,
        reason=data.reason if current else None,
        created_at=now,
    )
