"""A small health network for tests, created through the real services and API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.accounts.models import FacilityLevel, Role
from telehealth.auth.audit import AuditContext
from telehealth.auth.principal import Principal
from telehealth.config import Settings

PASSWORD = "correct horse battery"
SEED = AuditContext(client_address="tests")

USERS: dict[str, tuple[list[Role], str | None, list[str]]] = {
    "admin": ([Role.ADMIN], None, []),
    "doctor_a": ([Role.DOCTOR], "D1", ["general_medicine"]),
    "doctor_b": ([Role.DOCTOR], "D2", ["general_medicine"]),
    "specialist": ([Role.SPECIALIST], "C0", ["cardiology"]),
    "coordinator_a": ([Role.COORDINATOR], "D1", []),
    "trainer": ([Role.TRAINER], "C0", []),
    "trainee": ([Role.TRAINEE], "D1", []),
}


@dataclass
class Network:
    """Ids of everything created, and bearer tokens per user name."""

    client: TestClient[Any, Any]
    facilities: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    # Ids of records some tests add (e.g. "room_id" of a booked visit), by path parameter.
    extra_ids: dict[str, str] = field(default_factory=dict)

    async def headers(self, name: str) -> dict[str, str]:
        """Authorization headers of one user (token fetched once through the API)."""
        if name not in self.tokens:
            resp = await self.client.post(
                "/api/v1/auth/token", json={"username": name, "password": PASSWORD}
            )
            assert resp.status == 200, await resp.text()
            self.tokens[name] = (await resp.json())["access_token"]
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    @property
    def origin(self) -> dict[str, str]:
        """The Origin header a same-site browser would send."""
        return {"Origin": f"http://{self.client.host}:{self.client.port}"}


async def build_network(client: TestClient[Any, Any], settings: Settings) -> Network:
    """Facilities C0 (central), D1, D2 (district), K1 (commune under D1); a user per role;
    patients at D1 and D2 without a login and one self-registered patient."""
    accounts = client.app[keys.ACCOUNTS]
    net = Network(client)
    for code, name, level in [
        ("C0", "Bệnh viện Trung ương", "central"),
        ("D1", "Bệnh viện huyện Mường Tè", "district"),
        ("D2", "Bệnh viện huyện Sìn Hồ", "district"),
        ("K1", "Trạm y tế xã Ka Lăng", "commune"),
    ]:
        parent = net.facilities.get("D1") if level == "commune" else None
        out = await accounts.create_facility(
            SEED,
            s.FacilityIn(
                code=code,
                name=name,
                level=FacilityLevel(level),
                province="Lai Châu",
                parent_id=parent,
            ),
        )
        net.facilities[code] = out.id
    for username, (roles, facility, specialties) in USERS.items():
        user = await accounts.create_user(
            SEED,
            s.UserCreate(
                username=username,
                password=PASSWORD,
                full_name=username.replace("_", " ").title(),
                roles=roles,
                facility_id=net.facilities[facility] if facility else None,
                specialties=specialties,
            ),
        )
        net.users[username] = user.id
    for key, facility, staff in [("patient_a", "D1", "doctor_a"), ("patient_b", "D2", "doctor_b")]:
        principal = Principal(
            user_id=net.users[staff],
            username=staff,
            full_name=staff,
            roles=frozenset({Role.DOCTOR}),
            facility_id=net.facilities[facility],
            session_id="seed",
            via="bearer",
        )
        out_p = await accounts.register_patient(
            principal, SEED, s.PatientCreate(full_name=f"Bệnh nhân {key}")
        )
        net.patients[key] = out_p.id
    resp = await client.post(
        "/api/v1/auth/register",
        json={
            "username": "patient_self",
            "password": PASSWORD,
            "full_name": "Lò Văn Tự",
            "phone": "0912345678",
        },
    )
    assert resp.status == 201, await resp.text()
    net.users["patient_self"] = (await resp.json())["id"]
    me = await client.get("/api/v1/me", headers=await net.headers("patient_self"))
    net.patients["patient_self"] = (await me.json())["patient_id"]
    return net
