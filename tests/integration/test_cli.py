"""The `telehealth` command run as a real process: migrations, users, the demo network."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.accounts.models import Facility, FacilityLevel, Patient, User
from telehealth.auth.audit import AuditContext
from telehealth.auth.models import AuditEvent
from telehealth.db.engine import build_engine
from tests.support import databases
from tests.support.cli import cli_env, run_cli

PASSWORD = "mat-khau-that-dai"
DEMO_PASSWORD = "mat-khau-demo-2025"


async def count(database_url: str, model: Any) -> int:
    """Rows of one table."""
    engine = build_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())
    finally:
        await engine.dispose()


async def token(client: TestClient[Any, Any], username: str, password: str) -> dict[str, str]:
    """Bearer headers for a user, obtained through the API."""
    resp = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


@pytest.fixture
async def empty_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no schema at all, on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server = databases.postgres_url()
    assert server is not None
    name = f"telehealth_empty_{uuid.uuid4().hex[:10]}"
    admin = build_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_db_upgrade_brings_an_empty_database_to_the_newest_revision(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "data", empty_database_url)

    before = await run_cli(env, "db", "status")
    assert before.code == 1, before.output
    assert "current: empty" in before.stdout

    upgraded = await run_cli(env, "db", "upgrade")
    assert upgraded.code == 0, upgraded.output
    head = upgraded.stdout.split()[-1]

    after = await run_cli(env, "db", "status")
    assert after.code == 0, after.output
    assert after.stdout.strip() == f"current: {head}; newest: {head}"

    again = await run_cli(env, "db", "upgrade")
    assert again.code == 0, again.output


async def test_the_default_database_is_a_sqlite_file_in_the_data_directory(
    tmp_path: Path,
) -> None:
    env = cli_env(tmp_path / "data")

    assert (await run_cli(env, "db", "upgrade")).code == 0
    status = await run_cli(env, "db", "status")

    assert status.code == 0, status.output
    assert (tmp_path / "data" / "telehealth.sqlite3").is_file()


async def test_user_create_makes_an_admin_who_can_sign_in(
    client: TestClient[Any, Any], database_url: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "cli", database_url)

    result = await run_cli(
        env,
        *("user", "create", "--username", "quantri.moi", "--full-name", "Nguyễn Văn Quản"),
        *("--role", "admin", "--password-stdin"),
        stdin=PASSWORD + "\n",
    )

    assert result.code == 0, result.output
    user_id = result.stdout.strip()
    me = await client.get("/api/v1/me", headers=await token(client, "quantri.moi", PASSWORD))
    body = await me.json()
    assert (body["id"], body["roles"], body["full_name"]) == (
        user_id,
        ["admin"],
        "Nguyễn Văn Quản",
    )
    async with client.app[keys.SESSIONMAKER]() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.object_id == user_id))
    assert event is not None
    assert (event.action, event.actor_id, event.client_address) == ("user.create", None, "cli")


async def test_user_create_attaches_a_doctor_to_a_facility_by_code(
    client: TestClient[Any, Any], database_url: str, tmp_path: Path
) -> None:
    facility = await client.app[keys.ACCOUNTS].create_facility(
        AuditContext(client_address="tests"),
        s.FacilityIn(
            code="BVH-TS",
            name="Bệnh viện huyện Tam Sơn",
            level=FacilityLevel.DISTRICT,
            province="Lai Châu",
        ),
    )
    env = cli_env(tmp_path / "cli", database_url)

    result = await run_cli(
        env,
        *("user", "create", "--username", "bs.tam", "--full-name", "Lò Văn Tâm"),
        *("--role", "doctor", "--facility", "BVH-TS", "--specialty", "general_medicine"),
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )

    assert result.code == 0, result.output
    me = await (
        await client.get("/api/v1/me", headers=await token(client, "bs.tam", PASSWORD))
    ).json()
    assert me["facility"]["id"] == facility.id
    assert me["practitioner_id"]


@pytest.mark.parametrize(
    ("extra", "stdin", "message"),
    [
        (
            ["--role", "doctor", "--facility", "KHONG-CO"],
            PASSWORD,
            "no facility with code KHONG-CO",
        ),
        (["--role", "admin"], "ngan", "at least 10 characters"),
        (["--role", "wizard"], PASSWORD, "'wizard' is not a valid Role"),
    ],
    ids=["unknown-facility", "short-password", "unknown-role"],
)
async def test_user_create_refuses_with_a_clear_message_and_creates_nothing(
    database_url: str, tmp_path: Path, extra: list[str], stdin: str, message: str
) -> None:
    env = cli_env(tmp_path / "cli", database_url)

    result = await run_cli(
        env,
        *("user", "create", "--username", "bs.loi", "--full-name", "Bác sĩ Lỗi"),
        *extra,
        "--password-stdin",
        stdin=stdin + "\n",
    )

    assert result.code == 1, result.output
    assert result.stderr.startswith("could not create the user:"), result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert await count(database_url, User) == 0
    assert await count(database_url, AuditEvent) == 0


async def test_user_create_refuses_a_taken_username(database_url: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "cli", database_url)
    args = ("user", "create", "--username", "quantri", "--full-name", "A", "--role", "admin")

    first = await run_cli(env, *args, "--password-stdin", stdin=PASSWORD + "\n")
    second = await run_cli(env, *args, "--password-stdin", stdin=PASSWORD + "\n")

    assert first.code == 0, first.output
    assert second.code == 1
    assert "already exists" in second.stderr
    assert await count(database_url, User) == 1


def demo_counts(summary: str) -> str:
    """The line of the summary that counts the demo network."""
    match = re.search(r"^Demo network: .*$", summary, re.MULTILINE)
    assert match, summary
    return match.group(0)


def sign_in_names(summary: str) -> list[str]:
    """The usernames the summary lists under "Sign in ... as:", one `role: a, b` line each."""
    listed = summary.split("as:\n", 1)[1].splitlines()
    return [name for line in listed for name in line.split(": ", 1)[1].split(", ")]


async def test_demo_loads_once_and_a_second_run_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "cli", database_url)

    first = await run_cli(env, "demo", "--password", DEMO_PASSWORD)
    assert first.code == 0, first.output
    tables = (Facility, User, Patient, AuditEvent)
    after_first = [await count(database_url, t) for t in tables]
    second = await run_cli(env, "demo", "--password", DEMO_PASSWORD)

    assert second.code == 0, second.output
    assert demo_counts(first.stdout) == demo_counts(second.stdout)
    assert "0 already present" in first.stdout
    assert re.search(r"This run: 0 created, [1-9]\d* already present", second.stdout)
    assert [await count(database_url, t) for t in tables] == after_first
    # 5 facilities, 13 staff, 2 self-registered logins; 2 + 5 patient records.
    assert after_first[:3] == [5, 15, 7]
    verify = await run_cli(env, "audit", "verify")
    assert verify.code == 0, verify.output
    assert f"{after_first[3]} events checked, chain intact" in verify.stdout


async def test_demo_refuses_a_short_password_and_loads_nothing(
    database_url: str, tmp_path: Path
) -> None:
    result = await run_cli(cli_env(tmp_path / "cli", database_url), "demo", "--password", "ngan")

    assert result.code != 0
    assert "at least 10 characters" in result.output
    assert await count(database_url, Facility) == 0


async def test_demo_users_sign_in_and_see_the_vietnamese_network(
    client: TestClient[Any, Any], database_url: str, tmp_path: Path
) -> None:
    result = await run_cli(
        cli_env(tmp_path / "cli", database_url), "demo", "--password", DEMO_PASSWORD
    )
    assert result.code == 0, result.output

    signed_in = {}
    for username in sign_in_names(result.stdout):
        me = await client.get("/api/v1/me", headers=await token(client, username, DEMO_PASSWORD))
        assert me.status == 200
        signed_in[username] = await me.json()
    assert len(signed_in) == 15
    assert signed_in["bs.hoa"]["full_name"] == "Nguyễn Thị Hoa"
    assert signed_in["bs.hoa"]["facility"]["level"] == "central"
    assert signed_in["bn.sang"]["patient_id"]
    assert signed_in["quantri"]["roles"] == ["admin"]

    admin = await token(client, "quantri", DEMO_PASSWORD)
    facilities = (await (await client.get("/api/v1/facilities", headers=admin)).json())["items"]
    by_id = {f["id"]: f for f in facilities}
    communes = [f for f in facilities if f["level"] == "commune"]
    assert len(communes) == 2
    assert all(by_id[f["parent_id"]]["level"] == "district" for f in communes)
    specialties = set()
    for specialist in ("bs.hoa", "bs.minh", "bs.thu", "bs.quang"):
        page = await client.get(
            "/api/v1/practitioners",
            params={"facility_id": signed_in[specialist]["facility"]["id"]},
            headers=admin,
        )
        specialties |= {c for p in (await page.json())["items"] for c in p["specialties"]}
    assert {"cardiology", "paediatrics", "obstetrics", "radiology"} <= specialties


async def test_demo_patients_without_a_login_are_visible_to_their_station_doctor(
    client: TestClient[Any, Any], database_url: str, tmp_path: Path
) -> None:
    result = await run_cli(
        cli_env(tmp_path / "cli", database_url), "demo", "--password", DEMO_PASSWORD
    )
    assert result.code == 0, result.output

    doctor = await token(client, "bs.cuong", DEMO_PASSWORD)
    me = await (await client.get("/api/v1/me", headers=doctor)).json()
    page = await (await client.get("/api/v1/patients", headers=doctor)).json()

    assert me["facility"]["level"] == "commune"
    assert len(page["items"]) == 2
    for patient in page["items"]:
        assert not patient["has_login"]
        assert patient["home_facility_id"] == me["facility"]["id"]
        assert re.fullmatch(r"\d{12}", patient["national_id"])
        assert patient["national_id"][4:6] == patient["date_of_birth"][2:4]
    async with client.app[keys.SESSIONMAKER]() as session:
        creators = await session.scalars(
            select(AuditEvent.actor_id).where(AuditEvent.action == "patient.create")
        )
        assert me["id"] in set(creators.all())


async def test_the_demo_network_is_alive_a_patient_finds_free_slots_at_once(
    client: TestClient[Any, Any], database_url: str, tmp_path: Path
) -> None:
    result = await run_cli(
        cli_env(tmp_path / "cli", database_url), "demo", "--password", DEMO_PASSWORD
    )
    assert result.code == 0, result.output

    patient = await token(client, "bn.sang", DEMO_PASSWORD)
    for specialty in ("cardiology", "paediatrics", "general_medicine"):
        found = await client.get("/api/v1/slots", params={"specialty": specialty}, headers=patient)
        body = await found.json()
        assert body["items"], (specialty, body)
        assert body["empty_reason"] is None
    own = await (await client.get("/api/v1/appointments", headers=patient)).json()
    assert [a["status"] for a in own["items"]] == ["booked"]

    # A visit already held: booked weeks ago through the service, then closed as completed.
    coordinator = await token(client, "dieuphoi.lan", DEMO_PASSWORD)
    held = await client.get(
        "/api/v1/appointments", params={"status": "completed"}, headers=coordinator
    )
    assert len((await held.json())["items"]) == 1
    admin = await token(client, "quantri", DEMO_PASSWORD)
    rota = await (await client.get("/api/v1/on-call", headers=admin)).json()
    assert {s["specialty"] for s in rota["items"]} == {"cardiology", "paediatrics", "pulmonology"}
