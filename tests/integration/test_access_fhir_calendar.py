"""The access matrix of calendars and FHIR: every role against each of their endpoints.

The appointment is patient_a's (district D1) with doctor_a, booked by coordinator_a, so
its parties are admin, doctor_a and coordinator_a; everyone else gets the 404 of a
missing record.
"""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from tests.integration.test_access import ANON, EVERYONE
from tests.support.network import Network
from tests.support.scheduling import free_slots, open_every_day

ALL = (*EVERYONE, ANON)
# Endpoints whose matrix lives here (test_access.py checks coverage). The feed and
# /fhir/metadata are also in test_access.PUBLIC: calendar apps and FHIR clients call
# them without signing in.
ENDPOINTS = {
    ("GET", "/api/v1/appointments/{appointment_id}/calendar.ics"),
    ("POST", "/api/v1/practitioners/{practitioner_id}/calendar-feed"),
    ("DELETE", "/api/v1/practitioners/{practitioner_id}/calendar-feed"),
    ("GET", "/calendar/{secret}.ics"),
    ("GET", "/fhir/metadata"),
    ("GET", "/fhir/Patient/{patient_id}"),
    ("GET", "/fhir/Appointment/{appointment_id}"),
    ("GET", "/fhir/Practitioner/{practitioner_id}"),
    ("GET", "/fhir/Schedule/{practitioner_id}"),
    ("GET", "/fhir/Slot/{slot_id}"),
    ("GET", "/fhir/Organization/{facility_id}"),
}
PARTIES = ("admin", "doctor_a", "coordinator_a")
ROLE_GATE = {"trainer": 403, "trainee": 403, "patient_self": 403}


def _expect(allowed: dict[str, int], refused: int) -> dict[str, int]:
    return {who: allowed.get(who, 401 if who == ANON else refused) for who in ALL}


async def _headers(net: Network, who: str) -> dict[str, str]:
    return {} if who == ANON else await net.headers(who)


async def _status(net: Network, method: str, url: str, who: str) -> int:
    resp = await net.client.request(method, url, headers=await _headers(net, who))
    if resp.status >= 400:
        assert resp.content_type == "application/problem+json", url
    return resp.status


class Setup:
    """doctor_a takes bookings; one appointment of patient_a exists."""

    def __init__(self, net: Network) -> None:
        self.net = net

    async def start(self) -> Setup:
        self.doctor = await open_every_day(self.net, "doctor_a")
        self.slots: list[Any] = await free_slots(self.net, self.doctor)
        resp = await self.net.client.post(
            "/api/v1/appointments",
            json={
                "slot_id": self.slots[0]["id"],
                "patient_id": self.net.patients["patient_a"],
                "reason": "Khám lại",
            },
            headers=await self.net.headers("coordinator_a"),
        )
        assert resp.status == 201, await resp.text()
        self.appointment = str((await resp.json())["id"])
        return self


@pytest.fixture
async def setup(network: Network) -> Setup:
    return await Setup(network).start()


async def test_the_appointment_calendar_is_for_its_parties(setup: Setup) -> None:
    url = f"/api/v1/appointments/{setup.appointment}/calendar.ics"
    outcome = {who: await _status(setup.net, "GET", url, who) for who in ALL}
    assert outcome == _expect(dict.fromkeys(PARTIES, 200), 404)


async def test_feeds_are_issued_and_revoked_by_schedule_managers(setup: Setup) -> None:
    url = f"/api/v1/practitioners/{setup.doctor}/calendar-feed"
    issued = {who: await _status(setup.net, "POST", url, who) for who in ALL}
    revoked = {who: await _status(setup.net, "DELETE", url, who) for who in ALL}
    assert issued == _expect({**dict.fromkeys(PARTIES, 201), **ROLE_GATE}, 404)
    assert revoked == _expect({**dict.fromkeys(PARTIES, 204), **ROLE_GATE}, 404)


async def test_a_feed_url_works_for_whoever_holds_it(setup: Setup) -> None:
    net = setup.net
    made = await net.client.post(
        f"/api/v1/practitioners/{setup.doctor}/calendar-feed",
        headers=await net.headers("doctor_a"),
    )
    path = URL((await made.json())["url"]).path
    outcome = {who: await _status(net, "GET", path, who) for who in ALL}
    assert outcome == dict.fromkeys(ALL, 200)
    unknown = {who: await _status(net, "GET", "/calendar/nope.ics", who) for who in ALL}
    assert unknown == dict.fromkeys(ALL, 404)


async def test_the_capability_statement_is_public(setup: Setup) -> None:
    outcome = {who: await _status(setup.net, "GET", "/fhir/metadata", who) for who in ALL}
    assert outcome == dict.fromkeys(ALL, 200)


async def test_fhir_patients_follow_the_patient_rules(setup: Setup) -> None:
    net = setup.net
    for patient, allowed in (
        ("patient_a", ("admin", "doctor_a", "coordinator_a")),
        ("patient_self", ("admin", "patient_self")),
    ):
        url = f"/fhir/Patient/{net.patients[patient]}"
        outcome = {who: await _status(net, "GET", url, who) for who in ALL}
        assert outcome == _expect(dict.fromkeys(allowed, 200), 404), patient


async def test_fhir_appointments_are_for_their_parties(setup: Setup) -> None:
    url = f"/fhir/Appointment/{setup.appointment}"
    outcome = {who: await _status(setup.net, "GET", url, who) for who in ALL}
    assert outcome == _expect(dict.fromkeys(PARTIES, 200), 404)


async def test_directory_resources_are_for_anyone_signed_in(setup: Setup) -> None:
    net = setup.net
    slot = setup.slots[1]["id"].replace("_", "-")
    for url in (
        f"/fhir/Practitioner/{setup.doctor}",
        f"/fhir/Schedule/{setup.doctor}",
        f"/fhir/Slot/{slot}",
        f"/fhir/Organization/{net.facilities['D1']}",
    ):
        outcome = {who: await _status(net, "GET", url, who) for who in ALL}
        assert outcome == _expect(dict.fromkeys(EVERYONE, 200), 403), url
