"""The access matrix: every role against every endpoint, allowed and refused.

A refused record must not leak its existence: a doctor of another facility asking
for a patient gets the same 404 as for an id that does not exist.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.network import Network

ANON = "anonymous"
EVERYONE = (
    "admin",
    "doctor_a",
    "doctor_b",
    "specialist",
    "coordinator_a",
    "trainer",
    "trainee",
    "patient_self",
)
STAFF = ("admin", "doctor_a", "doctor_b", "specialist", "coordinator_a")
_counter = itertools.count()


def _facility(net: Network, user: str) -> dict[str, Any]:
    n = next(_counter)
    return {"code": f"F{n}", "name": f"Trạm {n}", "level": "commune", "province": "Lai Châu"}


def _user(net: Network, user: str) -> dict[str, Any]:
    n = next(_counter)
    return {
        "username": f"new.user{n}",
        "password": "a long enough password",
        "full_name": "Người Mới",
        "roles": ["coordinator"],
        "facility_id": net.facilities["D1"],
    }


def _patient(net: Network, user: str) -> dict[str, Any]:
    body: dict[str, Any] = {"full_name": "Bệnh nhân mới"}
    if user == "admin":
        body["home_facility_id"] = net.facilities["D1"]
    return body


@dataclass(frozen=True)
class Case:
    """One endpoint with a valid request and who may make it."""

    method: str
    path: str
    allowed: tuple[str, ...]
    body: Callable[[Network, str], dict[str, Any]] | None = None
    ok: int = 200
    refused_as: int = 403


CASES = [
    Case("GET", "/api/v1/me", EVERYONE),
    Case("PATCH", "/api/v1/me", EVERYONE, lambda n, u: {"locale": "en"}),
    Case("GET", "/api/v1/facilities", EVERYONE),
    Case("POST", "/api/v1/facilities", ("admin",), _facility, ok=201),
    Case("GET", "/api/v1/specialties", EVERYONE),
    Case("GET", "/api/v1/users", ("admin",)),
    Case("POST", "/api/v1/users", ("admin",), _user, ok=201),
    Case("GET", "/api/v1/users/{doctor_a}", ("admin",)),
    Case("PATCH", "/api/v1/users/{doctor_a}", ("admin",), lambda n, u: {"full_name": "BS A"}),
    Case("GET", "/api/v1/patients", STAFF),
    Case("POST", "/api/v1/patients", STAFF, _patient, ok=201),
    Case(
        "GET",
        "/api/v1/patients/{patient_a}",
        ("admin", "doctor_a", "coordinator_a"),
        refused_as=404,
    ),
    Case("GET", "/api/v1/patients/{patient_self}", ("admin", "patient_self"), refused_as=404),
    Case("GET", "/api/v1/practitioners", EVERYONE),
]
# Reachable without signing in, by design; anything else must refuse the anonymous caller.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/token"),
    ("GET", "/calendar/{secret}.ics"),
    ("GET", "/fhir/metadata"),
}
# Covered by tests of their own (they change who is signed in).
# Changing one's password ends the caller's own token: tests/integration/test_revocation.py.
ELSEWHERE = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/me/password")}


def _path(net: Network, template: str) -> str:
    ids = {**net.users, **net.patients}
    return template.format(**ids)


async def _call(net: Network, case: Case, who: str) -> int:
    headers = {} if who == ANON else await net.headers(who)
    kwargs: dict[str, Any] = {"headers": headers}
    if case.body is not None:
        kwargs["json"] = case.body(net, who)
    resp = await net.client.request(case.method, _path(net, case.path), **kwargs)
    if resp.status >= 400:
        assert resp.content_type == "application/problem+json"
    return resp.status


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_each_role_is_allowed_or_refused(network: Network, case: Case) -> None:
    outcome = {who: await _call(network, case, who) for who in (*EVERYONE, ANON)}
    expected = {
        who: case.ok if who in case.allowed else (401 if who == ANON else case.refused_as)
        for who in (*EVERYONE, ANON)
    }
    assert outcome == expected


async def test_matrix_covers_every_endpoint(network: Network) -> None:
    """A new endpoint must be added to the matrix (or the public list) to pass."""
    from telehealth import keys

    declared = {(e.method, e.path) for e in network.client.app[keys.ENDPOINTS] if not e.page}
    covered = {
        (
            c.method,
            c.path.replace("{doctor_a}", "{user_id}")
            .replace("{patient_a}", "{patient_id}")
            .replace("{patient_self}", "{patient_id}"),
        )
        for c in CASES
    }
    # Each feature keeps its own matrix in tests/integration/test_access_<feature>.py,
    # exporting the (method, path) pairs it covers as ENDPOINTS.
    elsewhere: set[tuple[str, str]] = set()
    for module in sorted(Path(__file__).parent.glob("test_access_*.py")):
        elsewhere |= importlib.import_module(f"tests.integration.{module.stem}").ENDPOINTS

    assert declared - covered - PUBLIC - ELSEWHERE - elsewhere == set()
    public_declared = {
        (e.method, e.path) for e in network.client.app[keys.ENDPOINTS] if e.public and not e.page
    }
    assert public_declared == PUBLIC


async def test_foreign_patient_looks_exactly_like_a_missing_one(network: Network) -> None:
    headers = await network.headers("doctor_b")
    foreign = await network.client.get(
        f"/api/v1/patients/{network.patients['patient_a']}", headers=headers
    )
    missing = await network.client.get(
        "/api/v1/patients/00000000-0000-4000-8000-000000000000", headers=headers
    )
    assert foreign.status == missing.status == 404
    strip = {"request_id"}
    assert {k: v for k, v in (await foreign.json()).items() if k not in strip} == {
        k: v for k, v in (await missing.json()).items() if k not in strip
    }


async def test_staff_lists_only_their_own_facility(network: Network) -> None:
    resp = await network.client.get("/api/v1/patients", headers=await network.headers("doctor_b"))
    ids = {p["id"] for p in (await resp.json())["items"]}
    assert network.patients["patient_b"] in ids
    assert network.patients["patient_a"] not in ids
    other = await network.client.get(
        f"/api/v1/patients?facility_id={network.facilities['D1']}",
        headers=await network.headers("doctor_b"),
    )
    assert other.status == 403


async def test_staff_register_patients_only_at_their_facility(network: Network) -> None:
    resp = await network.client.post(
        "/api/v1/patients",
        json={"full_name": "Ai đó", "home_facility_id": network.facilities["D1"]},
        headers=await network.headers("doctor_b"),
    )
    assert resp.status == 403
    assert (await resp.json())["code"] == "forbidden"


async def test_a_deactivated_users_token_stops_working(network: Network) -> None:
    headers = await network.headers("doctor_a")
    resp = await network.client.patch(
        f"/api/v1/users/{network.users['doctor_a']}",
        json={"active": False},
        headers=await network.headers("admin"),
    )
    assert resp.status == 200
    assert (await network.client.get("/api/v1/me", headers=headers)).status == 401
