"""The living part of the demo network: working hours, visits booked and held, an on-call
rota; loaded through the real services (audited), skipped where it is already there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts import schemas as a
from telehealth.accounts.repository import AccountsRepository
from telehealth.auth.audit import AuditContext
from telehealth.auth.principal import Principal
from telehealth.config import Settings
from telehealth.consults.rota import OnCallRota
from telehealth.consults.rota_schemas import RotaQuery, ShiftIn
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.scheduling import schemas as s
from telehealth.scheduling.appointments import AppointmentService
from telehealth.scheduling.availability import AvailabilityService
from telehealth.scheduling.models import AppointmentStatus, VisitMode
from telehealth.scheduling.search import SlotSearch

# Working hours reach back this far, so the demo can hold visits that already happened.
HISTORY = timedelta(days=21)
MORNING, AFTERNOON = (time(7, 30), time(11, 30)), (time(13, 30), time(16, 30))
ROTA_DAYS = 7


@dataclass(frozen=True)
class DemoVisit:
    """A visit of the demo: who books whom with whom, and how many days from today."""

    patient: str  # a self-registered username, or the full name of a staff-held record
    practitioner: str
    booked_by: str
    days_ahead: int
    mode: VisitMode
    reason: str
    companion: str | None = None


# Days: 0 tomorrow onwards are booked; negative ones happened and are completed.
VISITS = (
    DemoVisit("bn.sang", "bs.hoa", "bn.sang", 1, VisitMode.VIDEO, "Khó thở khi leo dốc"),
    DemoVisit(
        "Giàng A Chử",
        "bs.hoa",
        "bs.cuong",
        2,
        VisitMode.AUDIO,
        "Tái khám tăng huyết áp",
        "Con gái Giàng Thị Dua, cùng bác sĩ trạm y tế Nậm Chà",
    ),
    DemoVisit("bn.huong", "bs.thu", "bn.huong", -7, VisitMode.VIDEO, "Khám thai tuần 20"),
    DemoVisit("Nguyễn Văn Bình", "bs.tuan", "dieuphoi.lan", -3, VisitMode.AUDIO, "Đau khớp gối"),
)


def principal_of(user: a.UserOut) -> Principal:
    """A demo account as a caller of the services (the demo acts on their behalf)."""
    return Principal(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        roles=frozenset(user.roles),
        facility_id=user.facility_id,
        session_id="demo",
        via="demo",
    )


class DemoActivity:
    """Hours, visits and on-call shifts for the accounts the demo loader made."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        users: dict[str, a.UserOut],
        patients: dict[str, str],
        ctx: AuditContext,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._users = users
        self._patients = patients
        self._ctx = ctx
        self._tz = ZoneInfo(settings.default_timezone)
        self.created = 0

    async def load(self, practitioners: list[str], on_call: list[tuple[str, str]]) -> None:
        """Hours for each practitioner, the visits, and a week of on-call shifts."""
        ids = {name: await self._practitioner_id(name) for name in practitioners}
        for name, pid in ids.items():
            await self._hours(name, pid)
        # Visits go in with the hours they need: a later run (hours present) adds none, and
        # reads no appointment list, which would itself be an audited read.
        if self.created:
            for visit in VISITS:
                await self._visit(visit, ids[visit.practitioner])
        await self._rota(on_call, ids)

    async def _practitioner_id(self, username: str) -> str:
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            row = await AccountsRepository(uow.session).practitioner_of_user(
                self._users[username].id
            )
            assert row is not None, username
            return row.id

    async def _hours(self, username: str, practitioner_id: str) -> None:
        service = AvailabilityService(self._sessionmaker, self._settings)
        principal = principal_of(self._users[username])
        if (await service.availability(principal, practitioner_id)).rules:
            return
        since = self._today() - HISTORY
        rules = [
            s.RuleIn(
                weekday=day, start=start, end=end, slot_minutes=30, breaks=[], valid_from=since
            )
            for day in range(6)
            for start, end in ((MORNING, AFTERNOON) if day < 5 else (MORNING,))
        ]
        data = s.AvailabilityIn(rules=rules)
        await service.set_availability(principal, self._ctx, practitioner_id, data)
        self.created += 1

    async def _visit(self, visit: DemoVisit, practitioner_id: str) -> None:
        day = self._today() + timedelta(days=visit.days_ahead)
        # The first working day from `day` (no hours on Sundays); a past visit stays past.
        last = day + timedelta(days=6)
        if visit.days_ahead < 0:
            last = min(last, self._today() - timedelta(days=1))
        # A visit in the past is booked as if it were three weeks ago, then closed now.
        clock = (lambda: utcnow() - HISTORY) if visit.days_ahead < 0 else utcnow
        search = SlotSearch(self._sessionmaker, self._settings, clock)
        query = s.SlotQuery.model_validate(
            {"practitioner_id": practitioner_id, "from": day, "to": last, "limit": 1},
            strict=False,
        )
        slot = (await search.free_slots(query)).items[0]
        booker = principal_of(self._users[visit.booked_by])
        service = AppointmentService(self._sessionmaker, self._settings, search, clock)
        data = s.AppointmentCreate(
            slot_id=slot.id,
            patient_id=None if visit.patient == visit.booked_by else self._patients[visit.patient],
            mode=visit.mode,
            reason=visit.reason,
            companion=visit.companion,
        )
        booked = await service.book(booker, self._ctx, data)
        self.created += 1
        if visit.days_ahead < 0:
            closer = principal_of(self._users[visit.practitioner])
            now = AppointmentService(self._sessionmaker, self._settings, search)
            await now.close(closer, self._ctx, booked.id, AppointmentStatus.COMPLETED)

    async def _rota(self, on_call: list[tuple[str, str]], ids: dict[str, str]) -> None:
        rota = OnCallRota(self._sessionmaker, self._settings)
        admin = principal_of(self._users["quantri"])
        if (await rota.list_shifts(admin, RotaQuery(limit=1))).items:
            return
        start = datetime.combine(self._today(), time(7), self._tz)
        for username, specialty in on_call:
            facility_id = self._users[username].facility_id
            assert facility_id is not None
            for day in range(ROTA_DAYS):
                begins = start + timedelta(days=day)
                shift = ShiftIn(
                    specialty=specialty,
                    facility_id=facility_id,
                    practitioner_id=ids[username],
                    start_at=begins,
                    end_at=begins + timedelta(days=1),
                )
                await rota.add_shift(admin, self._ctx, shift)
                self.created += 1

    def _today(self) -> date:
        return utcnow().astimezone(self._tz).date()
