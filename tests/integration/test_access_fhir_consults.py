"""The access matrix of consults over FHIR: every role against each consult resource.

The consult: doctor_a (district D1) asks cardiology about patient_a. Its clinical
parties are doctor_a and, while it waits in the queue, every cardiologist; once the
specialist has taken and answered it, doctor_a and that specialist. Everyone else gets
the 404 of a missing record: doctor_b (another district), a dermatologist, a second
cardiologist once the consult has left the queue, the admin (FHIR offers no
metadata-only view), and the coordinator, trainer, trainee and patient. Searches answer
everyone signed in, with the parties' consults only.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_access import ANON, EVERYONE
from tests.support.consult_rows import attach
from tests.support.consults import act, file_consult
from tests.support.network import PASSWORD, Network

ENDPOINTS = {
    ("GET", "/fhir/ServiceRequest/{consult_id}"),
    ("GET", "/fhir/Task/{consult_id}"),
    ("GET", "/fhir/Communication/{message_id}"),
    ("GET", "/fhir/DocumentReference/{attachment_id}"),
    ("GET", "/fhir/Composition/{opinion_id}"),
    ("GET", "/fhir/ServiceRequest/{consult_id}/$everything"),
    ("GET", "/fhir/ServiceRequest"),
    ("GET", "/fhir/Communication"),
}
CARDIOLOGIST = "cardiologist_2"
DERMATOLOGIST = "dermatologist"
ALL = (*EVERYONE, CARDIOLOGIST, DERMATOLOGIST, ANON)


def _expect(allowed: tuple[str, ...]) -> dict[str, int]:
    return {who: 200 if who in allowed else 401 if who == ANON else 404 for who in ALL}


async def _get(net: Network, url: str, who: str) -> Any:
    headers = {} if who == ANON else await net.headers(who)
    resp = await net.client.get(url, headers=headers)
    if resp.status >= 400:
        assert resp.content_type == "application/problem+json", url
        assert (await resp.json())["code"] in {"not_found", "unauthenticated"}
    return resp


async def _outcome(net: Network, url: str) -> dict[str, int]:
    return {who: (await _get(net, url, who)).status for who in ALL}


async def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


class Setup:
    """Two more specialists at C0, and the consult answered with a message, a file and
    an opinion."""

    def __init__(self, net: Network) -> None:
        self.net = net

    async def start(self) -> Setup:
        net = self.net
        for username, specialty in ((CARDIOLOGIST, "cardiology"), (DERMATOLOGIST, "dermatology")):
            user = {
                "username": username,
                "password": PASSWORD,
                "full_name": username.title(),
                "roles": ["specialist"],
                "facility_id": net.facilities["C0"],
                "specialties": [specialty],
            }
            admin = await net.headers("admin")
            made = await _ok(await net.client.post("/api/v1/users", json=user, headers=admin), 201)
            net.users[username] = made["id"]
        self.consult = (await file_consult(net))["id"]
        cid = self.consult
        await _ok(await act(net, "specialist", cid, "accept"))
        message = await _ok(await act(net, "doctor_a", cid, "messages", {"text": "ECG"}), 201)
        self.message = message["id"]
        self.attachment = await attach(net, cid, "doctor_a", "image", {})
        opinion = {"assessment": "a", "recommendations": "r", "disposition": "manage_locally"}
        answered = await _ok(await act(net, "specialist", cid, "opinion", opinion))
        self.opinion = answered["opinion"]["id"]
        return self


@pytest.fixture
async def setup(network: Network) -> Setup:
    return await Setup(network).start()


async def test_an_answered_consults_resources_are_for_its_parties(setup: Setup) -> None:
    for url in (
        f"/fhir/ServiceRequest/{setup.consult}",
        f"/fhir/Task/{setup.consult}",
        f"/fhir/Communication/{setup.message}",
        f"/fhir/DocumentReference/{setup.attachment}",
        f"/fhir/Composition/{setup.opinion}",
        f"/fhir/ServiceRequest/{setup.consult}/$everything",
    ):
        assert await _outcome(setup.net, url) == _expect(("doctor_a", "specialist")), url


async def test_a_queued_consult_is_for_the_requester_and_the_specialty(setup: Setup) -> None:
    cid = (await file_consult(setup.net))["id"]
    parties = ("doctor_a", "specialist", CARDIOLOGIST)
    for url in (f"/fhir/ServiceRequest/{cid}", f"/fhir/Task/{cid}"):
        assert await _outcome(setup.net, url) == _expect(parties), url


async def test_a_draft_is_for_its_author_alone(setup: Setup) -> None:
    cid = (await file_consult(setup.net, draft=True))["id"]
    for url in (
        f"/fhir/ServiceRequest/{cid}",
        f"/fhir/Task/{cid}",
        f"/fhir/ServiceRequest/{cid}/$everything",
    ):
        assert await _outcome(setup.net, url) == _expect(("doctor_a",)), url


async def test_searches_answer_everyone_with_the_parties_consults_only(setup: Setup) -> None:
    net = setup.net
    everyone = tuple(w for w in ALL if w != ANON)
    for url, match in (
        (f"/fhir/ServiceRequest?patient={net.patients['patient_a']}", setup.consult),
        (f"/fhir/Communication?based-on=ServiceRequest/{setup.consult}", setup.message),
    ):
        found = {}
        for who in ALL:
            resp = await _get(net, url, who)
            found[who] = (
                resp.status,
                [e["resource"]["id"] for e in (await resp.json()).get("entry", [])]
                if resp.status == 200
                else None,
            )
        assert found == {
            who: (200, [match] if who in ("doctor_a", "specialist") else [])
            if who in everyone
            else (401, None)
            for who in ALL
        }, url
