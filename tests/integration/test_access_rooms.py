"""The access matrix of rooms: every role against each room endpoint and the Encounter.

The visit is patient_a's (district D1) with doctor_a, booked by coordinator_a on the
patient's behalf, so its parties are doctor_a (the host) and coordinator_a (the patient's
side). Everyone else, admins included, gets the 404 of a room that does not exist: a
room's existence says that a patient has a visit.
"""

from __future__ import annotations

from typing import Any

from tests.integration.test_access import ANON, EVERYONE
from tests.support.network import Network
from tests.support.rtc import book_visit

ALL = (*EVERYONE, ANON)
ENDPOINTS = {
    ("POST", "/api/v1/rooms/{room_id}/join"),
    ("GET", "/api/v1/rooms/{room_id}"),
    ("GET", "/api/v1/rooms/{room_id}/events"),
    ("POST", "/api/v1/rooms/{room_id}/outcome"),
    ("GET", "/api/v1/rooms/{room_id}/outcome"),
    ("GET", "/fhir/Encounter/{room_id}"),
}
OUTCOME = {
    "summary": "Khám qua video",
    "diagnosis": {"code": "I10", "text": "Tăng huyết áp"},
    "disposition": "follow_up",
}


def _expect(allowed: dict[str, int]) -> dict[str, int]:
    return {who: allowed.get(who, 401 if who == ANON else 404) for who in ALL}


async def _statuses(net: Network, method: str, url: str, body: Any = None) -> dict[str, int]:
    out = {}
    for who in ALL:
        headers = {} if who == ANON else await net.headers(who)
        resp = await net.client.request(method, url, headers=headers, json=body)
        if resp.status >= 400:
            assert resp.content_type == "application/problem+json", (url, who)
        out[who] = resp.status
    return out


async def test_only_the_visits_parties_reach_its_room(network: Network) -> None:
    appt = await book_visit(network, booker="coordinator_a", patient="patient_a")
    room = f"/api/v1/rooms/{appt['room_id']}"
    parties = {"doctor_a": 200, "coordinator_a": 200}
    assert await _statuses(network, "POST", room + "/join") == _expect(parties)
    assert await _statuses(network, "GET", room) == _expect(parties)
    assert await _statuses(network, "GET", room + "/events") == _expect(parties)
    encounter = f"/fhir/Encounter/{appt['room_id']}"
    assert await _statuses(network, "GET", encounter) == _expect(parties)
    assert await _statuses(network, "GET", room + "/outcome") == _expect({})  # none yet
    # Every refused caller goes first; the host's write is the last of the round.
    written = await _statuses(network, "POST", room + "/outcome", OUTCOME)
    assert written == _expect({"doctor_a": 201, "coordinator_a": 403})
    assert await _statuses(network, "GET", room + "/outcome") == _expect(parties)


async def test_an_unknown_room_looks_like_a_foreign_one(network: Network) -> None:
    appt = await book_visit(network, booker="coordinator_a", patient="patient_a")
    headers = await network.headers("doctor_b")
    foreign = await network.client.get(f"/api/v1/rooms/{appt['room_id']}", headers=headers)
    missing = await network.client.get(
        "/api/v1/rooms/00000000-0000-4000-8000-000000000000", headers=headers
    )
    assert foreign.status == missing.status == 404
    strip = {"request_id"}
    assert {k: v for k, v in (await foreign.json()).items() if k not in strip} == {
        k: v for k, v in (await missing.json()).items() if k not in strip
    }
