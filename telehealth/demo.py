"""A demo network in Vietnamese, loaded through the real services so the audit log records it.

Loading is idempotent: facilities are looked up by code, accounts by username and patient
records by national id first, so a second run creates nothing and writes no audit rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.accounts import schemas as s
from telehealth.accounts.models import FacilityLevel, Role
from telehealth.accounts.repository import AccountsRepository
from telehealth.accounts.search import PatientSearch
from telehealth.accounts.service import AccountsService, user_out
from telehealth.auth.audit import AuditContext
from telehealth.auth.passwords import PasswordHasher
from telehealth.auth.sequencer import chain_written
from telehealth.auth.service import AuthService
from telehealth.config import Settings
from telehealth.db.engine import build_engine, build_sessionmaker
from telehealth.db.uow import UnitOfWork
from telehealth.demo_activity import DemoActivity, principal_of

DEMO = AuditContext(client_address="demo")
_NEW_PASSWORD: TypeAdapter[str] = TypeAdapter(s.NewPassword)


@dataclass(frozen=True)
class DemoFacility:
    """A facility of the demo network; `parent` is the code of the district above a station."""

    code: str
    name: str
    level: FacilityLevel
    province: str
    parent: str | None = None


@dataclass(frozen=True)
class DemoStaff:
    """A staff, trainer or trainee account (an admin creates these)."""

    username: str
    full_name: str
    roles: tuple[Role, ...]
    facility: str | None
    specialties: tuple[str, ...] = ()
    licence: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class DemoSelfRegistered:
    """A patient who registered a login themself."""

    username: str
    full_name: str
    phone: str
    date_of_birth: date
    sex: s.Sex


@dataclass(frozen=True)
class DemoRecord:
    """A patient without a login, registered at a facility by one of its staff."""

    full_name: str
    national_id: str
    insurance_number: str
    date_of_birth: date
    sex: s.Sex
    phone: str | None
    address: str
    facility: str
    registered_by: str


FACILITIES = (
    DemoFacility("BVTW", "Bệnh viện Trung ương Việt Bắc", FacilityLevel.CENTRAL, "Thái Nguyên"),
    DemoFacility(
        "BVH-NAMSON", "Bệnh viện Đa khoa huyện Nậm Sơn", FacilityLevel.DISTRICT, "Lai Châu"
    ),
    DemoFacility(
        "BVH-NASANG", "Bệnh viện Đa khoa huyện Na Sang", FacilityLevel.DISTRICT, "Điện Biên"
    ),
    DemoFacility(
        "TYT-NAMCHA", "Trạm Y tế xã Nậm Chà", FacilityLevel.COMMUNE, "Lai Châu", "BVH-NAMSON"
    ),
    DemoFacility(
        "TYT-HUOILECH", "Trạm Y tế xã Huổi Lếch", FacilityLevel.COMMUNE, "Điện Biên", "BVH-NASANG"
    ),
)

_SPEC, _DOC = (Role.SPECIALIST,), (Role.DOCTOR,)
STAFF = (
    DemoStaff("quantri", "Đặng Quốc Bảo", (Role.ADMIN,), "BVTW", phone="0904123456"),
    DemoStaff("bs.hoa", "Nguyễn Thị Hoa", _SPEC, "BVTW", ("cardiology",), "001234/TN-CCHN"),
    DemoStaff("bs.minh", "Trần Đức Minh", _SPEC, "BVTW", ("paediatrics",), "001871/TN-CCHN"),
    DemoStaff("bs.thu", "Phạm Thị Thu", _SPEC, "BVTW", ("obstetrics",), "002045/TN-CCHN"),
    DemoStaff("bs.quang", "Hoàng Văn Quang", _SPEC, "BVTW", ("radiology",), "002310/TN-CCHN"),
    DemoStaff(
        "giangvien.hung",
        "Đỗ Mạnh Hùng",
        (Role.TRAINER, Role.SPECIALIST),
        "BVTW",
        ("pulmonology", "tuberculosis"),
        "000957/TN-CCHN",
    ),
    DemoStaff("dieuphoi.lan", "Vũ Thị Lan", (Role.COORDINATOR,), "BVH-NAMSON", phone="0983456712"),
    DemoStaff(
        "bs.tuan", "Lê Văn Tuấn", _DOC, "BVH-NAMSON", ("general_medicine",), "000412/LC-CCHN"
    ),
    DemoStaff(
        "bs.giang", "Lò Thị Giang", _DOC, "BVH-NASANG", ("general_medicine",), "000638/ĐB-CCHN"
    ),
    DemoStaff(
        "bs.cuong", "Lường Văn Cường", _DOC, "TYT-NAMCHA", ("general_medicine",), phone="0355123789"
    ),
    DemoStaff(
        "bs.pao", "Giàng A Páo", _DOC, "TYT-HUOILECH", ("general_medicine",), phone="0869321457"
    ),
    DemoStaff("hocvien.mai", "Quàng Thị Mai", (Role.TRAINEE,), "TYT-NAMCHA"),
    DemoStaff("hocvien.thao", "Lý Thị Thảo", (Role.TRAINEE,), "BVH-NASANG"),
)

SELF_REGISTERED = (
    DemoSelfRegistered("bn.sang", "Lò Văn Sáng", "0978456123", date(1958, 4, 17), "male"),
    DemoSelfRegistered("bn.huong", "Đinh Thị Hương", "0356781234", date(1992, 9, 2), "female"),
)

# CCCD: province code (012 Lai Châu, 011 Điện Biên), a century/sex digit (0 man and 1 woman
# born in the 1900s, 2 boy born in the 2000s), the year of birth, then six digits.
RECORDS = (
    DemoRecord(
        "Lò Thị Én",
        "012149000318",
        "HT3120112345678",
        date(1949, 2, 11),
        "female",
        "02133876543",  # no mobile: the landline of the commune station
        "Bản Nậm Chà, xã Nậm Chà, huyện Nậm Sơn, tỉnh Lai Châu",
        "TYT-NAMCHA",
        "bs.cuong",
    ),
    DemoRecord(
        "Giàng A Chử",
        "012045001276",
        "DT2120209876543",
        date(1945, 10, 5),
        "male",
        "0389123456",
        "Bản Huổi Van, xã Nậm Chà, huyện Nậm Sơn, tỉnh Lai Châu",
        "TYT-NAMCHA",
        "bs.cuong",
    ),
    DemoRecord(
        "Nguyễn Văn Bình",
        "012062005144",
        "GD4121122334455",
        date(1962, 7, 21),
        "male",
        "0912876543",
        "Tổ 3, thị trấn Nậm Sơn, huyện Nậm Sơn, tỉnh Lai Châu",
        "BVH-NAMSON",
        "dieuphoi.lan",
    ),
    DemoRecord(
        "Tòng Thị Nga",
        "011188002763",
        "1198765432",
        date(1988, 12, 30),
        "female",
        "0868234567",
        "Bản Na Sang 1, xã Na Sang, huyện Na Sang, tỉnh Điện Biên",
        "BVH-NASANG",
        "bs.giang",
    ),
    DemoRecord(
        "Quàng Văn Khánh",
        "011221004509",
        "TE1110301234567",
        date(2021, 6, 3),
        "male",
        "0794561230",
        "Bản Huổi Lếch, xã Huổi Lếch, huyện Na Sang, tỉnh Điện Biên",
        "TYT-HUOILECH",
        "bs.pao",
    ),
)

# Specialists on call around the clock this week, by specialty.
ON_CALL = [("bs.hoa", "cardiology"), ("bs.minh", "paediatrics"), ("giangvien.hung", "pulmonology")]


async def load_demo(settings: Settings, password: str) -> str:
    """Load the demo network (skipping what exists) and say what there is to sign in with."""
    try:
        _NEW_PASSWORD.validate_python(password)
    except ValidationError as exc:
        raise ValueError(f"the demo password is refused: {exc.errors()[0]['msg']}") from exc
    engine = build_engine(settings.database_url)
    try:
        sessionmaker = build_sessionmaker(engine)
        loader = _DemoLoader(sessionmaker, settings, password)
        await loader.load()
        await chain_written(sessionmaker, settings.audit, settings.rooms.node_id)
        return loader.summary()
    finally:
        await engine.dispose()


class _DemoLoader:
    """Creates what is missing of the demo network and counts what it found."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, password: str
    ) -> None:
        passwords = PasswordHasher(settings.passwords)
        self._sessionmaker = sessionmaker
        self._accounts = AccountsService(sessionmaker, passwords)
        self._auth = AuthService(sessionmaker, passwords, settings)
        self._password = password
        self._settings = settings
        self._facilities: dict[str, str] = {}
        # Every demo account by username (staff and self-registered patients).
        self._staff: dict[str, s.UserOut] = {}
        self._patients: dict[str, str] = {}
        self.created = 0
        self.present = 0
        self.activity = 0

    async def load(self) -> None:
        """Facilities first (parents before stations), then accounts, then patients, then
        what makes the network live: hours, visits and the on-call rota."""
        for facility in FACILITIES:
            self._facilities[facility.code] = await self._facility(facility)
        for staff in STAFF:
            self._staff[staff.username] = await self._staff_user(staff)
        for patient in SELF_REGISTERED:
            await self._self_registered(patient)
            user = await self._user(patient.username)
            assert user is not None
            self._staff[patient.username] = user
        for record in RECORDS:
            self._patients[record.full_name] = await self._record(record)
        activity = DemoActivity(
            self._sessionmaker, self._settings, self._staff, self._patients, DEMO
        )
        bookable = [u.username for u in STAFF if {Role.DOCTOR, Role.SPECIALIST} & set(u.roles)]
        await activity.load(bookable, ON_CALL)
        self.activity = activity.created

    def _count(self, found: bool) -> None:
        if found:
            self.present += 1
        else:
            self.created += 1

    async def _facility(self, facility: DemoFacility) -> str:
        # Read inside the unit of work: its rollback on exit expires the rows it loaded.
        async with UnitOfWork(self._sessionmaker) as uow:
            existing = await AccountsRepository(uow.session).facility_by_code(facility.code)
            existing_id = existing.id if existing is not None else None
        self._count(existing_id is not None)
        if existing_id is not None:
            return existing_id
        data = s.FacilityIn(
            code=facility.code,
            name=facility.name,
            level=facility.level,
            province=facility.province,
            parent_id=self._facilities[facility.parent] if facility.parent else None,
        )
        return (await self._accounts.create_facility(DEMO, data)).id

    async def _staff_user(self, staff: DemoStaff) -> s.UserOut:
        existing = await self._user(staff.username)
        self._count(existing is not None)
        if existing is not None:
            return existing
        data = s.UserCreate(
            username=staff.username,
            password=self._password,
            full_name=staff.full_name,
            roles=list(staff.roles),
            facility_id=self._facilities[staff.facility] if staff.facility else None,
            specialties=list(staff.specialties),
            licence_number=staff.licence,
            phone=staff.phone,
            locale="vi",
        )
        return await self._accounts.create_user(DEMO, data)

    async def _self_registered(self, patient: DemoSelfRegistered) -> None:
        existing = await self._user(patient.username)
        self._count(existing is not None)
        if existing is None:
            data = s.RegisterIn(
                username=patient.username,
                password=self._password,
                full_name=patient.full_name,
                phone=patient.phone,
                locale="vi",
                date_of_birth=patient.date_of_birth,
                sex=patient.sex,
            )
            await self._auth.register_patient(DEMO, data)

    async def _record(self, record: DemoRecord) -> str:
        async with UnitOfWork(self._sessionmaker) as uow:
            search = PatientSearch.parse(record.national_id)
            page = await AccountsRepository(uow.session).patients(None, search, 1, None)
            found = [p.id for p in page.items if p.national_id == record.national_id]
        self._count(bool(found))
        if found:
            return found[0]
        staff = self._staff[record.registered_by]
        data = s.PatientCreate(
            full_name=record.full_name,
            national_id=record.national_id,
            insurance_number=record.insurance_number,
            date_of_birth=record.date_of_birth,
            sex=record.sex,
            phone=record.phone,
            address=record.address,
            home_facility_id=self._facilities[record.facility],
        )
        # The staff member is the actor, as if they had registered the patient at the desk.
        ctx = replace(DEMO, actor_id=staff.id)
        return (await self._accounts.register_patient(principal_of(staff), ctx, data)).id

    async def _user(self, username: str) -> s.UserOut | None:
        async with UnitOfWork(self._sessionmaker) as uow:
            user = await AccountsRepository(uow.session).user_by_username(username)
            return user_out(user) if user is not None else None

    def summary(self) -> str:
        """Counts of the demo network and the usernames to sign in with, by role."""
        lines = [
            f"Demo network: {len(FACILITIES)} facilities, {len(STAFF)} staff accounts, "
            f"{len(SELF_REGISTERED) + len(RECORDS)} patients ({len(SELF_REGISTERED)} with a "
            f"login, {len(RECORDS)} registered by staff without one).",
            f"This run: {self.created} created, {self.present} already present; "
            f"{self.activity} schedules, visits and on-call shifts added.",
            "Sign in with the demo password as:",
        ]
        for role in Role:
            if role is Role.PATIENT:
                names: Sequence[str] = [p.username for p in SELF_REGISTERED]
            else:
                names = [u.username for u in STAFF if u.roles[0] is role]
            if names:
                lines.append(f"  {role.value}: {', '.join(names)}")
        return "\n".join(lines)
