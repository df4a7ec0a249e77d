"""The access matrix of the consult figures: admins and central-hospital specialists.

The figures are counts, but they still describe the network's clinical work: doctors,
coordinators, trainers, trainees and patients are refused at the door.
"""

from __future__ import annotations

from tests.integration.test_access import ANON, EVERYONE
from tests.support.consults import add_provincial_hospital, add_specialist, file_consult
from tests.support.network import Network

STATS = "/api/v1/consults/stats"
ENDPOINTS = {("GET", STATS)}
READERS = {"specialist", "admin"}


async def test_only_specialists_and_admins_read_the_figures(network: Network) -> None:
    await file_consult(network)
    outcome = {}
    for who in (*EVERYONE, ANON):
        headers = {} if who == ANON else await network.headers(who)
        resp = await network.client.get(STATS, headers=headers)
        if resp.status >= 400:
            assert resp.content_type == "application/problem+json"
        outcome[who] = resp.status
    expected = {
        who: 200 if who in READERS else (401 if who == ANON else 403) for who in (*EVERYONE, ANON)
    }
    assert outcome == expected


async def test_a_refused_caller_learns_no_figure(network: Network) -> None:
    await file_consult(network)
    resp = await network.client.get(STATS, headers=await network.headers("doctor_a"))
    body = await resp.json()
    assert body["code"] == "forbidden"
    assert "specialties" not in body
    assert "total" not in body


async def test_a_specialist_outside_the_central_hospitals_is_refused(network: Network) -> None:
    await add_provincial_hospital(network)
    await add_specialist(network, "bs.tinh", "P1", ["cardiology"])
    await file_consult(network)
    resp = await network.client.get(STATS, headers=await network.headers("bs.tinh"))
    assert resp.status == 403
    assert (await resp.json())["code"] == "forbidden"
