"""The access matrix of scheduling: every role against every scheduling endpoint.

Each call that changes an appointment gets an appointment of its own: patient_a (of
district D1) with doctor_a, booked by coordinator_a.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.test_access import ANON, EVERYONE
from tests.support.network import Network
from tests.support.scheduling import free_slots, open_every_day

ALL = (*EVERYONE, ANON)
# Scheduling endpoints whose matrix lives here (test_access.py checks coverage).
ENDPOINTS = {
    ("GET", "/api/v1/practitioners/{practitioner_id}/availability"),
    ("PUT", "/api/v1/practitioners/{practitioner_id}/availability"),
    ("POST", "/api/v1/practitioners/{practitioner_id}/blocks"),
    ("DELETE", "/api/v1/practitioners/{practitioner_id}/blocks/{block_id}"),
    ("GET", "/api/v1/slots"),
    ("POST", "/api/v1/appointments"),
    ("GET", "/api/v1/appointments"),
    ("GET", "/api/v1/appointments/{appointment_id}"),
    ("POST", "/api/v1/appointments/{appointment_id}/cancel"),
    ("POST", "/api/v1/appointments/{appointment_id}/reschedule"),
    ("POST", "/api/v1/appointments/{appointment_id}/check-in"),
    ("POST", "/api/v1/appointments/{appointment_id}/no-show"),
    ("POST", "/api/v1/appointments/{appointment_id}/complete"),
}
PARTIES = ("admin", "doctor_a", "coordinator_a")


def _future_block() -> dict[str, str]:
    start = datetime.now(UTC) + timedelta(days=40)
    return {"start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()}


def _expect(allowed: dict[str, int], refused: int) -> dict[str, int]:
    return {who: allowed.get(who, 401 if who == ANON else refused) for who in ALL}


async def _headers(net: Network, who: str) -> dict[str, str]:
    return {} if who == ANON else await net.headers(who)


class Setup:
    """A network where doctor_a and the specialist take bookings."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.slots: list[Any] = []

    async def start(self) -> Setup:
        self.doctor = await open_every_day(self.net, "doctor_a", slot_minutes=15)
        self.specialist = await open_every_day(self.net, "specialist")
        # Start two hours out, so check-in (open from an hour before) is always too early.
        self.slots = (await free_slots(self.net, self.doctor, limit=200))[8:]
        return self

    def slot(self) -> str:
        return str(self.slots.pop(0)["id"])

    async def appointment(self) -> str:
        resp = await self.net.client.post(
            "/api/v1/appointments",
            json={
                "slot_id": self.slot(),
                "patient_id": self.net.patients["patient_a"],
                "reason": "Khám lại",
            },
            headers=await self.net.headers("coordinator_a"),
        )
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])


@pytest.fixture
async def setup(network: Network) -> Setup:
    return await Setup(network).start()


async def test_availability_is_managed_by_the_practitioner_and_coordinators(setup: Setup) -> None:
    net = setup.net
    url = f"/api/v1/practitioners/{setup.doctor}/availability"
    body = {
        "rules": [
            {"weekday": d, "start": "00:00", "end": "23:45", "slot_minutes": 15} for d in range(7)
        ]
    }
    block = _future_block()
    got, put, blocked = {}, {}, {}
    for who in ALL:
        h = await _headers(net, who)
        got[who] = (await net.client.get(url, headers=h)).status
        put[who] = (await net.client.put(url, json=body, headers=h)).status
        blocked[who] = (
            await net.client.post(
                f"/api/v1/practitioners/{setup.doctor}/blocks", json=block, headers=h
            )
        ).status
    role_gate = {"trainer": 403, "trainee": 403, "patient_self": 403}
    managers = {"doctor_a": 200, "coordinator_a": 200, "admin": 200}
    assert got == _expect({**managers, **role_gate}, 404)
    assert put == _expect({**managers, **role_gate}, 404)
    assert blocked == _expect(
        {"doctor_a": 201, "coordinator_a": 201, "admin": 201, **role_gate}, 404
    )


async def test_unblocking_is_for_managers_only(setup: Setup) -> None:
    net = setup.net
    block = _future_block()
    outcome = {}
    for who in ALL:
        made = await net.client.post(
            f"/api/v1/practitioners/{setup.doctor}/blocks",
            json=block,
            headers=await net.headers("doctor_a"),
        )
        block_id = (await made.json())["blocks"][-1]["id"]
        resp = await net.client.delete(
            f"/api/v1/practitioners/{setup.doctor}/blocks/{block_id}",
            headers=await _headers(net, who),
        )
        outcome[who] = resp.status
    assert outcome == _expect(
        {
            "doctor_a": 200,
            "coordinator_a": 200,
            "admin": 200,
            "trainer": 403,
            "trainee": 403,
            "patient_self": 403,
        },
        404,
    )


async def test_anyone_signed_in_searches_slots_and_lists_their_appointments(
    setup: Setup,
) -> None:
    net = setup.net
    for path in ("/api/v1/slots", "/api/v1/appointments"):
        outcome = {
            who: (await net.client.get(path, headers=await _headers(net, who))).status
            for who in ALL
        }
        assert outcome == _expect(dict.fromkeys(EVERYONE, 200), 403)


async def test_who_may_book_for_patient_a(setup: Setup) -> None:
    net = setup.net
    outcome = {}
    for who in ALL:
        body: dict[str, Any] = {"slot_id": setup.slot(), "reason": "Khám"}
        if who != "patient_self":
            body["patient_id"] = net.patients["patient_a"]
        resp = await net.client.post(
            "/api/v1/appointments", json=body, headers=await _headers(net, who)
        )
        outcome[who] = resp.status
    # Clinicians of other facilities may book, but not for patient_a: to them the patient
    # does not exist (404, as for a random id), roles that may not book at all get 403.
    allowed = {"patient_self": 201, "coordinator_a": 201, "doctor_a": 201}
    assert outcome == _expect({**allowed, "doctor_b": 404, "specialist": 404}, 403)


@pytest.mark.parametrize(
    ("action", "body", "ok", "role_gated"),
    [
        ("", None, 200, False),
        ("/cancel", {"reason": "Thay đổi kế hoạch"}, 200, False),
        ("/reschedule", "slot", 200, False),
        ("/check-in", None, 422, False),  # allowed, but far ahead of the start
        ("/no-show", None, 422, True),  # allowed, but not started yet
        ("/complete", None, 422, True),
    ],
)
async def test_only_the_parties_touch_an_appointment(
    setup: Setup, action: str, body: Any, ok: int, role_gated: bool
) -> None:
    net = setup.net
    outcome = {}
    for who in ALL:
        appt = await setup.appointment()
        url = f"/api/v1/appointments/{appt}{action}"
        payload = {"slot_id": setup.slot()} if body == "slot" else body
        headers = await _headers(net, who)
        if action:
            resp = await net.client.post(url, json=payload, headers=headers)
        else:
            resp = await net.client.get(url, headers=headers)
        outcome[who] = resp.status
    allowed = dict.fromkeys(PARTIES, ok)
    gate = {"trainer": 403, "trainee": 403, "patient_self": 403} if role_gated else {}
    assert outcome == _expect({**allowed, **gate}, 404)
