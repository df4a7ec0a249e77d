"""Rooms over the REST API: every visit gets its room, who may join it and when, join
tokens and TURN credentials, the room's state and log, and the visit's outcome."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from fhir.resources.R4B.encounter import Encounter
from sqlalchemy import func, select

from telehealth import keys
from telehealth.app import create_app
from telehealth.config import RoomSettings, Settings
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.rooms.models import RoomOutcome
from telehealth.rooms.tokens import JoinClaims, TokenError
from tests.support.consults import act, file_consult
from tests.support.network import Network, build_network
from tests.support.rtc import book_visit, join_grant
from tests.support.scheduling import free_slots, open_every_day

OUTCOME: dict[str, Any] = {
    "summary": "Ho khan 2 tuần, không sốt, phổi không ran.",
    "diagnosis": {"code": "J20.9", "text": "Viêm phế quản cấp"},
    "plan": "Uống nhiều nước, tái khám nếu sốt.",
    "prescriptions": "Paracetamol 500 mg khi sốt > 38.5°C",
    "disposition": "follow_up",
    "follow_up": "Tái khám sau 1 tuần",
}


async def _room(net: Network, room_id: str, who: str) -> Any:
    return await net.client.get(f"/api/v1/rooms/{room_id}", headers=await net.headers(who))


async def test_booking_gives_the_visit_its_room(network: Network) -> None:
    appt = await book_visit(network)
    assert appt["room_id"]
    resp = await _room(network, appt["room_id"], "patient_self")
    assert resp.status == 200, await resp.text()
    room = await resp.json()
    assert (room["kind"], room["mode"], room["subject_id"]) == ("visit", "mesh", appt["id"])
    assert room["state"] == "scheduled"
    assert room["your_role"] == "patient"
    assert room["waiting"] is None  # the waiting list is the host's


async def test_the_parties_join_and_a_stranger_is_refused(network: Network) -> None:
    appt = await book_visit(network)
    room_id = appt["room_id"]
    host = await join_grant(network, "doctor_a", room_id)
    patient = await join_grant(network, "patient_self", room_id)
    assert (host["role"], patient["role"]) == ("host", "patient")
    assert host["peer_id"] != patient["peer_id"]
    assert host["namespace"] == "/rtc"
    assert host["path"] == "/socket.io"
    assert host["mode"] == "mesh"
    assert host["state"] == "open"
    for stranger in ("doctor_b", "specialist", "coordinator_a", "admin"):
        resp = await network.client.post(
            f"/api/v1/rooms/{room_id}/join", headers=await network.headers(stranger)
        )
        assert resp.status == 404, stranger
        assert (await resp.json())["code"] == "not_found"
        assert (await _room(network, room_id, stranger)).status == 404
    anonymous = await network.client.post(f"/api/v1/rooms/{room_id}/join")
    assert anonymous.status == 401


async def test_whoever_booked_on_the_patients_behalf_joins_as_the_patients_side(
    network: Network,
) -> None:
    appt = await book_visit(network, booker="coordinator_a", patient="patient_a")
    grant = await join_grant(network, "coordinator_a", appt["room_id"])
    assert grant["role"] == "patient"
    # Joining as the patient's side is the check-in.
    resp = await network.client.get(
        f"/api/v1/appointments/{appt['id']}", headers=await network.headers("coordinator_a")
    )
    assert (await resp.json())["status"] == "checked_in"


async def test_a_room_opens_an_hour_before_and_a_cancelled_one_is_ended(
    network: Network,
) -> None:
    pid = await open_every_day(network, "doctor_a", slot_minutes=30)
    slots = await free_slots(network, pid, limit=200)
    soon = utcnow() + timedelta(hours=3)
    later = next(s for s in slots if datetime.fromisoformat(s["start"]) > soon)
    resp = await network.client.post(
        "/api/v1/appointments",
        json={"slot_id": later["id"], "mode": "audio", "reason": "Tái khám"},
        headers=await network.headers("patient_self"),
    )
    appt = await resp.json()
    early = await network.client.post(
        f"/api/v1/rooms/{appt['room_id']}/join", headers=await network.headers("patient_self")
    )
    assert early.status == 409
    body = await early.json()
    assert body["code"] == "room_not_open"
    assert body["opens_at"]
    cancel = await network.client.post(
        f"/api/v1/appointments/{appt['id']}/cancel",
        json={"reason": "Bận việc"},
        headers=await network.headers("patient_self"),
    )
    assert cancel.status == 200
    ended = await network.client.post(
        f"/api/v1/rooms/{appt['room_id']}/join", headers=await network.headers("patient_self")
    )
    assert ended.status == 409
    assert (await ended.json())["code"] == "room_ended"
    room = await (await _room(network, appt["room_id"], "patient_self")).json()
    assert room["state"] == "ended"


async def test_the_join_token_is_bound_to_user_room_role_and_expiry(network: Network) -> None:
    appt = await book_visit(network)
    grant = await join_grant(network, "patient_self", appt["room_id"])
    tokens = network.client.app[keys.ROOMS].tokens
    claims = tokens.verify(grant["token"], utcnow())
    assert claims.user_id == network.users["patient_self"]
    assert (claims.room_id, claims.role, claims.peer_id) == (
        appt["room_id"],
        "patient",
        grant["peer_id"],
    )
    assert utcnow() + timedelta(minutes=9) < claims.expires_at <= utcnow() + timedelta(minutes=10)
    with pytest.raises(TokenError):
        tokens.verify(grant["token"], claims.expires_at + timedelta(seconds=1))
    payload, _, signature = grant["token"].partition(".")
    with pytest.raises(TokenError):
        tokens.verify(payload[:-2] + "xx." + signature, utcnow())
    for bad in (None, "", 42, "a.b", "x" * 5000):
        with pytest.raises(TokenError):
            tokens.verify(bad, utcnow())
    forged = JoinClaims("someone", appt["room_id"], "host", "p1", utcnow() + timedelta(hours=1))
    other_key = type(tokens)("another-deployments-secret")
    with pytest.raises(TokenError):
        tokens.verify(other_key.issue(forged), utcnow())


async def test_turn_credentials_follow_coturns_rest_form(
    aiohttp_client: Any, settings: Settings
) -> None:
    turn = RoomSettings(turn_secret="coturn-shared-secret", turn_urls=("turn:127.0.0.1:3478",))
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(settings.with_overrides(rooms=turn))
    )
    net = await build_network(client, settings)
    appt = await book_visit(net)
    grant = await join_grant(net, "patient_self", appt["room_id"])
    [server] = grant["ice_servers"]
    assert server["urls"] == ["turn:127.0.0.1:3478"]
    expiry, _, user = server["username"].partition(":")
    assert user == net.users["patient_self"]
    assert abs(int(expiry) - int(utcnow().timestamp()) - 600) < 5
    digest = hmac.new(b"coturn-shared-secret", server["username"].encode(), hashlib.sha1)
    assert server["credential"] == base64.b64encode(digest.digest()).decode()


async def test_the_outcome_is_written_once_and_corrected_by_versions(network: Network) -> None:
    appt = await book_visit(network)
    room_id = appt["room_id"]
    await join_grant(network, "doctor_a", room_id)
    url = f"/api/v1/rooms/{room_id}/outcome"
    headers = {**await network.headers("doctor_a"), "Idempotency-Key": "visit-outcome-0001"}
    first = await network.client.post(url, json=OUTCOME, headers=headers)
    assert first.status == 201, await first.text()
    again = await network.client.post(url, json=OUTCOME, headers=headers)
    assert again.status == 200
    assert (await again.json()) == (await first.json())
    other_key = {**headers, "Idempotency-Key": "visit-outcome-0002"}
    twice = await network.client.post(url, json=OUTCOME, headers=other_key)
    assert twice.status == 409
    assert (await twice.json())["code"] == "outcome_exists"
    fix = {**OUTCOME, "plan": "Chụp X-quang phổi", "reason": "Quên chỉ định X-quang"}
    corrected = await network.client.post(url, json=fix, headers=other_key)
    assert corrected.status == 201
    assert (await corrected.json())["version"] == 2
    current = await network.client.get(url, headers=await network.headers("patient_self"))
    assert (await current.json())["plan"] == "Chụp X-quang phổi"
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        versions = await uow.session.scalar(
            select(func.count()).select_from(RoomOutcome).where(RoomOutcome.room_id == room_id)
        )
    assert versions == 2
    visit = await network.client.get(
        f"/api/v1/appointments/{appt['id']}", headers=await network.headers("doctor_a")
    )
    assert (await visit.json())["status"] == "completed"
    room = await (await _room(network, room_id, "doctor_a")).json()
    assert room["state"] == "ended"
    assert room["outcome_version"] == 2
    log = await network.client.get(
        f"/api/v1/rooms/{room_id}/events", headers=await network.headers("doctor_a")
    )
    kinds = [e["kind"] for e in (await log.json())["items"]]
    assert kinds.count("outcome_recorded") == 2
    assert "ended" in kinds


async def test_only_the_host_records_an_outcome_and_bad_ones_are_refused(
    network: Network,
) -> None:
    appt = await book_visit(network)
    url = f"/api/v1/rooms/{appt['room_id']}/outcome"
    patient = await network.client.post(
        url, json=OUTCOME, headers=await network.headers("patient_self")
    )
    assert patient.status == 403
    stranger = await network.client.post(
        url, json=OUTCOME, headers=await network.headers("doctor_b")
    )
    assert stranger.status == 404
    host = await network.headers("doctor_a")
    for bad in (
        {**OUTCOME, "diagnosis": {"code": "not-icd", "text": "x"}},
        {**OUTCOME, "disposition": "somewhere"},
        {**OUTCOME, "summary": None},
        {**OUTCOME, "summary": ""},
        {**OUTCOME, "extra": 1},
        {k: v for k, v in OUTCOME.items() if k != "diagnosis"},
    ):
        resp = await network.client.post(url, json=bad, headers=host)
        assert resp.status == 400, (bad, await resp.text())
        assert (await resp.json())["code"] == "validation_error"
    bad_key = await network.client.post(url, json=OUTCOME, headers={**host, "Idempotency-Key": "x"})
    assert bad_key.status == 400
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        count = await uow.session.scalar(select(func.count()).select_from(RoomOutcome))
    assert count == 0


async def test_the_event_log_is_for_the_parties(network: Network) -> None:
    appt = await book_visit(network)
    room_id = appt["room_id"]
    await join_grant(network, "patient_self", room_id)
    resp = await network.client.get(
        f"/api/v1/rooms/{room_id}/events?limit=1", headers=await network.headers("patient_self")
    )
    page = await resp.json()
    assert [e["kind"] for e in page["items"]] == ["opened"]
    stranger = await network.client.get(
        f"/api/v1/rooms/{room_id}/events", headers=await network.headers("doctor_b")
    )
    assert stranger.status == 404
    unknown = await network.client.get(
        "/api/v1/rooms/no-such-room/events", headers=await network.headers("patient_self")
    )
    assert unknown.status == 404


async def test_the_visit_is_a_fhir_encounter_with_its_diagnosis(network: Network) -> None:
    appt = await book_visit(network)
    room_id = appt["room_id"]
    fhir_appt = await network.client.get(
        f"/fhir/Appointment/{appt['id']}", headers=await network.headers("patient_self")
    )
    [room_ref] = (await fhir_appt.json())["supportingInformation"]
    assert room_ref["reference"] == f"Encounter/{room_id}"
    url = f"/fhir/Encounter/{room_id}"
    planned = await network.client.get(url, headers=await network.headers("doctor_a"))
    assert planned.status == 200, await planned.text()
    assert (await planned.json())["status"] == "planned"
    await network.client.post(
        f"/api/v1/rooms/{room_id}/outcome", json=OUTCOME, headers=await network.headers("doctor_a")
    )
    resp = await network.client.get(url, headers=await network.headers("patient_self"))
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    body = await resp.json()
    encounter = Encounter.model_validate(body)
    assert encounter.status == "finished"
    assert body["class"]["code"] == "VR"
    assert body["appointment"] == [{"reference": f"Appointment/{appt['id']}"}]
    [condition] = body["contained"]
    assert condition["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10",
        "code": "J20.9",
        "display": "Viêm phế quản cấp",
    }
    assert body["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "follow_up"
    stranger = await network.client.get(url, headers=await network.headers("doctor_b"))
    assert stranger.status == 404


async def test_a_consult_sessions_parties_join_its_room_directly(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    assert (await act(network, "specialist", cid, "accept")).status == 200
    start = utcnow() + timedelta(minutes=30)
    scheduled = await act(network, "specialist", cid, "schedule", {"start": start.isoformat()})
    room_id = (await scheduled.json())["room_id"]
    host = await join_grant(network, "specialist", room_id)
    requester = await join_grant(network, "doctor_a", room_id)
    assert (host["role"], host["mode"]) == ("host", "relay")
    assert requester["role"] == "participant"
    for stranger in ("doctor_b", "patient_self", "coordinator_a"):
        resp = await network.client.post(
            f"/api/v1/rooms/{room_id}/join", headers=await network.headers(stranger)
        )
        assert resp.status == 404, stranger
    # A consult's outcome is its signed opinion, not a visit outcome.
    resp = await network.client.post(
        f"/api/v1/rooms/{room_id}/outcome",
        json=OUTCOME,
        headers=await network.headers("specialist"),
    )
    assert resp.status == 422
