"""Seed a benchmark database through the real services: a practitioner open every day,
patients with bearer tokens, and the ids of enough future slots to book."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from telehealth import keys
from telehealth.accounts import schemas as accounts
from telehealth.accounts.models import FacilityLevel, Role
from telehealth.app import create_app
from telehealth.auth.audit import AuditContext
from telehealth.config import PasswordPolicy, Settings
from telehealth.scheduling import schemas as scheduling
from telehealth.scheduling.slots import SlotTime, WeeklyRule, generate_slots, slot_id

PASSWORD = "bench-password-1"  # a throwaway database
SEED = AuditContext(client_address="bench")
TIMEZONE = "Asia/Ho_Chi_Minh"
SLOT_MINUTES = 15
DAY_START, DAY_END = time(0, 0), time(23, 30)
# Cheap hashing for seeding only: the benchmark never checks a password over HTTP.
FAST_PASSWORDS = PasswordPolicy(time_cost=1, memory_cost_kib=8, parallelism=1)


@dataclass(frozen=True)
class Patient:
    """A seeded patient: what the baseline needs to write a row, and a token for the API."""

    patient_id: str
    user_id: str
    token: str


@dataclass(frozen=True)
class Seeded:
    """Everything the load needs: who books whom, and free slots in time order."""

    practitioner_id: str
    facility_id: str
    patients: list[Patient]
    slots: list[SlotTime]

    def slot_id(self, slot: SlotTime) -> str:
        """The API id of one of the practitioner's slots."""
        return slot_id(self.practitioner_id, slot.start)


async def seed(database_url: str, patients: int, slots: int) -> Seeded:
    """Create the network with the app's own services, then leave the database alone."""
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as data_dir:
        settings = Settings(
            database_url=database_url,
            data_dir=Path(data_dir),
            secret_key="bench-seed-only",
            passwords=FAST_PASSWORDS,
        )
        runner = web.AppRunner(create_app(settings))
        await runner.setup()  # runs the cleanup_ctx startups: engine and services
        try:
            return await _seed(runner.app, patients, slots)
        finally:
            await runner.cleanup()


async def _seed(app: web.Application, patients: int, slots: int) -> Seeded:
    facility = await app[keys.ACCOUNTS].create_facility(
        SEED,
        accounts.FacilityIn(
            code="BENCH",
            name="Bench hospital",
            level=FacilityLevel.DISTRICT,
            province="Lai Châu",
            timezone=TIMEZONE,
        ),
    )
    practitioner_id = await _open_practitioner(app, facility.id)
    seeded = [await _patient(app, n) for n in range(patients)]
    return Seeded(practitioner_id, facility.id, seeded, future_slots(slots))


async def _open_practitioner(app: web.Application, facility_id: str) -> str:
    await app[keys.ACCOUNTS].create_user(
        SEED,
        accounts.UserCreate(
            username="bench-doctor",
            password=PASSWORD,
            full_name="Bác sĩ Bench",
            roles=[Role.DOCTOR],
            facility_id=facility_id,
            specialties=["general_medicine"],
        ),
    )
    signed_in = await app[keys.AUTH].sign_in(SEED, "bench-doctor", PASSWORD, "bearer", None)
    me = await app[keys.ACCOUNTS].me(signed_in.principal)
    assert me.practitioner_id is not None
    rules = [
        scheduling.RuleIn(
            weekday=d, start=DAY_START, end=DAY_END, slot_minutes=SLOT_MINUTES, breaks=[]
        )
        for d in range(7)
    ]
    await app[keys.AVAILABILITY].set_availability(
        signed_in.principal, SEED, me.practitioner_id, scheduling.AvailabilityIn(rules=rules)
    )
    return me.practitioner_id


async def _patient(app: web.Application, n: int) -> Patient:
    username = f"bench-patient-{n:04d}"
    user = await app[keys.AUTH].register_patient(
        SEED,
        accounts.RegisterIn(
            username=username,
            password=PASSWORD,
            full_name=f"Bệnh nhân {n}",
            phone=f"09{n:08d}",
        ),
    )
    signed_in = await app[keys.AUTH].sign_in(SEED, username, PASSWORD, "bearer", None)
    me = await app[keys.ACCOUNTS].me(signed_in.principal)
    assert me.patient_id is not None
    return Patient(me.patient_id, user.id, signed_in.token)


def future_slots(count: int) -> list[SlotTime]:
    """The first `count` slots the seeded rules offer, from tomorrow (local time) on."""
    tz = ZoneInfo(TIMEZONE)
    rule_days = [WeeklyRule(d, DAY_START, DAY_END, SLOT_MINUTES) for d in range(7)]
    tomorrow = datetime.now(tz).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(0), tzinfo=tz).astimezone(UTC)
    per_day = (DAY_END.hour * 60 + DAY_END.minute) // SLOT_MINUTES
    days = count // per_day + 2
    found = generate_slots(rule_days, [], tz, start, start + timedelta(days=days))
    assert len(found) >= count, (len(found), count)
    return found[:count]
