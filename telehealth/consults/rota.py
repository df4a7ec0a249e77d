"""The on-call rota: who answers a specialty's consults at a hub hospital, and when.

Only central and provincial hospitals keep a rota: they are where consult requests are
answered. Administrators keep it; a specialist may also put themselves on call, and take
themselves off, for a specialty they hold at their own hospital. The deadline watch tells
the specialist on call when a request runs past its deadline (`ConsultService`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts.models import Role, User
from telehealth.accounts.repository import AccountsRepository
from telehealth.accounts.schemas import FacilityRef
from telehealth.auth.audit import AuditContext, AuditLog
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.consults.models import OnCallShift
from telehealth.consults.rota_repository import ON_CALL_LEVELS, RotaRepository
from telehealth.consults.rota_schemas import (
    DEFAULT_WINDOW,
    EARLIEST,
    ENDED,
    LATEST,
    MAX_WINDOW,
    READERS,
    NowQuery,
    OnCallGroup,
    OnCallNowOut,
    RotaChoices,
    RotaQuery,
    ShiftIn,
    ShiftOut,
    ShiftPage,
)
from telehealth.db.base import new_id, utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import (
    Conflict,
    ErrorCode,
    Forbidden,
    InvalidInput,
    NotFound,
    Unprocessable,
)
from telehealth.scheduling.schemas import PersonRef

# Re-exported: the rota's views and pages reach its schemas through this module.
__all__ = [
    "ENDED",
    "READERS",
    "NowQuery",
    "OnCallGroup",
    "OnCallNowOut",
    "OnCallRota",
    "RotaChoices",
    "RotaQuery",
    "ShiftIn",
    "ShiftOut",
    "ShiftPage",
]


def _ensure_reader(principal: Principal) -> None:
    if not principal.has(*READERS):
        raise Forbidden("Your role does not allow this.")


def _ensure_keeper(
    principal: Principal, own: str | None, practitioner_id: str, facility: str
) -> None:
    if principal.has(Role.ADMIN):
        return
    if (
        principal.has(Role.SPECIALIST)
        and own == practitioner_id
        and principal.facility_id == facility
    ):
        return
    raise Forbidden(
        "Administrators keep the rota; a specialist may put only themselves on call, "
        "at their own hospital."
    )


def _ensure_eligible(user: User, specialties: frozenset[str], data: ShiftIn) -> None:
    if not user.active or Role.SPECIALIST not in user.role_set:
        problem = "The practitioner is not an active specialist."
    elif data.specialty not in specialties:
        problem = "The practitioner does not hold this specialty."
    elif user.facility_id != data.facility_id:
        problem = "The practitioner does not work at this hospital."
    else:
        return
    raise Unprocessable(problem, code=ErrorCode.PRACTITIONER_INELIGIBLE)


def _instant(value: datetime | date, tz: ZoneInfo, *, end_of_day: bool) -> datetime:
    """A date is local midnight (the next one for `end_of_day`); datetimes pass through."""
    if isinstance(value, datetime):
        return value
    refused = InvalidInput("Dates must fall in the years 2000 to 2099.")
    try:
        day = value + timedelta(days=1) if end_of_day else value
        moment = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    except OverflowError:
        raise refused from None
    if not EARLIEST <= moment <= LATEST:
        raise refused
    return moment


class OnCallRota:
    """Reads and keeps the on-call rota; one unit of work per use case."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock

    def _window(self, query: RotaQuery) -> tuple[datetime, datetime]:
        tz = ZoneInfo(self._settings.default_timezone)
        start = query.from_
        lo = _instant(start, tz, end_of_day=False) if start is not None else self._clock()
        end = query.to
        hi = _instant(end, tz, end_of_day=True) if end is not None else lo + DEFAULT_WINDOW
        if hi <= lo:
            raise InvalidInput("'to' must be after 'from'.")
        if hi - lo > MAX_WINDOW:
            raise InvalidInput("The range can be at most 31 days.")
        return lo, hi

    async def list_shifts(self, principal: Principal, query: RotaQuery) -> ShiftPage:
        """The shifts overlapping a window, soonest start first."""
        _ensure_reader(principal)
        start, end = self._window(query)
        async with UnitOfWork(self._sessionmaker) as uow:
            page = await RotaRepository(uow.session).between(query, start, end)
            return ShiftPage(items=await _render(uow.session, list(page.items)), next=page.next)

    async def on_call_now(self, principal: Principal, query: NowQuery) -> OnCallNowOut:
        """Who is on call now, per specialty and hospital."""
        _ensure_reader(principal)
        now = self._clock()
        async with UnitOfWork(self._sessionmaker) as uow:
            shifts = await _render(
                uow.session, await RotaRepository(uow.session).covering(query, now)
            )
        groups: dict[tuple[str, str], list[ShiftOut]] = {}
        for shift in sorted(shifts, key=lambda s: (s.specialty, s.facility.code)):
            groups.setdefault((shift.specialty, shift.facility.id), []).append(shift)
        items = [
            OnCallGroup(specialty=rows[0].specialty, facility=rows[0].facility, shifts=rows)
            for rows in groups.values()
        ]
        return OnCallNowOut(at=now, items=items)

    async def add_shift(self, principal: Principal, ctx: AuditContext, data: ShiftIn) -> ShiftOut:
        """Put a specialist on call; refused if it overlaps another of their shifts."""
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RotaRepository(uow.session)
            own = await repo.own_practitioner_id(principal.user_id)
            _ensure_keeper(principal, own, data.practitioner_id, data.facility_id)
            await self._check(uow.session, data)
            clash = await repo.overlapping(data)
            if clash is not None:
                raise Conflict(
                    "The specialist is already on call for this specialty during that time.",
                    code=ErrorCode.OVERLAPPING_SHIFT,
                    extra={"shift_id": clash.id},
                )
            shift = OnCallShift(
                id=new_id(),
                specialty_code=data.specialty,
                facility_id=data.facility_id,
                practitioner_id=data.practitioner_id,
                start_at=data.start_at,
                end_at=data.end_at,
            )
            uow.session.add(shift)
            await uow.flush()
            await AuditLog(uow.session, ctx).record(
                "on_call.create", "on_call_shift", shift.id, data.model_dump(mode="json")
            )
            out = (await _render(uow.session, [shift]))[0]
            await uow.commit()
            return out

    async def _check(self, session: AsyncSession, data: ShiftIn) -> None:
        accounts = AccountsRepository(session)
        if not await accounts.known_specialties([data.specialty]):
            raise InvalidInput(f"Unknown specialty {data.specialty!r}.")
        facility = await accounts.facility(data.facility_id)
        if facility is None:
            raise InvalidInput("facility_id names no facility.")
        if facility.level not in ON_CALL_LEVELS:
            raise Unprocessable(
                "Only central and provincial hospitals keep an on-call rota.",
                code=ErrorCode.FACILITY_INELIGIBLE,
            )
        found = await RotaRepository(session).specialist(data.practitioner_id)
        if found is None:
            raise InvalidInput("practitioner_id names no practitioner.")
        _ensure_eligible(*found, data)
        if data.end_at <= self._clock():
            raise InvalidInput(ENDED)

    async def remove_shift(self, principal: Principal, ctx: AuditContext, shift_id: str) -> None:
        """Take a shift off the rota; a shift that has ended stays on the record."""
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RotaRepository(uow.session)
            shift = await repo.shift(shift_id, lock=True)
            if shift is None:
                raise NotFound("No such shift.")
            own = await repo.own_practitioner_id(principal.user_id)
            _ensure_keeper(principal, own, shift.practitioner_id, shift.facility_id)
            if shift.end_at <= self._clock():
                raise Conflict(
                    "A shift that has ended stays on the record.",
                    code=ErrorCode.INVALID_TRANSITION,
                )
            details = {
                "specialty": shift.specialty_code,
                "facility_id": shift.facility_id,
                "practitioner_id": shift.practitioner_id,
                "start_at": shift.start_at.isoformat(),
                "end_at": shift.end_at.isoformat(),
            }
            await uow.session.delete(shift)
            await AuditLog(uow.session, ctx).record(
                "on_call.delete", "on_call_shift", shift_id, details
            )
            await uow.commit()

    async def choices(self, principal: Principal) -> RotaChoices:
        """Hub hospitals and their specialists, for the rota form (administrators)."""
        if not principal.has(Role.ADMIN):
            raise Forbidden("Your role does not allow this.")
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RotaRepository(uow.session)
            hubs = await repo.hubs()
            return RotaChoices(
                facilities=[FacilityRef.model_validate(f) for f in hubs],
                specialists=await repo.specialists_at([f.id for f in hubs]),
            )


async def _render(session: AsyncSession, shifts: list[OnCallShift]) -> list[ShiftOut]:
    names = await RotaRepository(session).names({s.practitioner_id for s in shifts})
    facilities = await AccountsRepository(session).facilities_by_ids(
        {s.facility_id for s in shifts}
    )
    return [
        ShiftOut(
            id=s.id,
            specialty=s.specialty_code,
            facility=FacilityRef.model_validate(facilities[s.facility_id]),
            practitioner=PersonRef(
                id=s.practitioner_id, full_name=names.get(s.practitioner_id, "")
            ),
            start_at=s.start_at,
            end_at=s.end_at,
        )
        for s in shifts
    ]
