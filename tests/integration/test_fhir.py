"""The FHIR R4 read API: valid resources, consistent references, the JSON API's access rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot
from sqlalchemy import select

from telehealth import keys
from telehealth.accounts.models import FacilityLevel
from telehealth.accounts.schemas import FacilityRef
from telehealth.auth.models import AuditEvent
from telehealth.db.uow import UnitOfWork
from telehealth.fhir import mapping, systems
from telehealth.scheduling.models import AppointmentStatus, VisitMode
from telehealth.scheduling.schemas import AppointmentOut, PersonRef
from tests.support.network import Network
from tests.support.scheduling import free_slots, practitioner_id

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CCCD = "001085012345"  # province 001, 20th-century man born in 1985
BHYT = "GD4010123456789"
MISSING = "00000000-0000-4000-8000-000000000000"


async def _fhir(net: Network, path: str, who: str | None, model: type[Resource]) -> Any:
    headers = await net.headers(who) if who else {}
    resp = await net.client.get(f"/fhir/{path}", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/fhir+json"
    body = await resp.json()
    resource = model.model_validate(body)
    assert body["resourceType"] == model.__name__
    return resource


async def _status(net: Network, path: str, who: str) -> int:
    resp = await net.client.get(f"/fhir/{path}", headers=await net.headers(who))
    if resp.status >= 400:
        assert resp.content_type == "application/problem+json"
    return resp.status


async def _open_since_yesterday(net: Network, username: str) -> str:
    """Slots every day from 00:00 to 23:30 local, valid from two days ago."""
    pid = await practitioner_id(net, username)
    since = (datetime.now(HCM) - timedelta(days=2)).date().isoformat()
    rules = [
        {"weekday": d, "start": "00:00", "end": "23:30", "slot_minutes": 30, "valid_from": since}
        for d in range(7)
    ]
    resp = await net.client.put(
        f"/api/v1/practitioners/{pid}/availability",
        json={"rules": rules},
        headers=await net.headers(username),
    )
    assert resp.status == 200, await resp.text()
    return pid


async def _patient_with_ids(net: Network) -> str:
    resp = await net.client.post(
        "/api/v1/patients",
        json={
            "full_name": "Nguyễn Văn Bình",
            "national_id": CCCD,
            "insurance_number": BHYT,
            "date_of_birth": "1985-04-12",
            "sex": "male",
            "phone": "0987654321",
        },
        headers=await net.headers("doctor_a"),
    )
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def _book(net: Network, slot: str, patient_id: str) -> dict[str, Any]:
    resp = await net.client.post(
        "/api/v1/appointments",
        json={"slot_id": slot, "patient_id": patient_id, "mode": "audio", "reason": "Ho kéo dài"},
        headers=await net.headers("coordinator_a"),
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_every_resource_validates_and_references_agree(network: Network) -> None:
    pid = await _open_since_yesterday(network, "doctor_a")
    patient_id = await _patient_with_ids(network)
    slot = (await free_slots(network, pid))[0]
    booked = await _book(network, slot["id"], patient_id)

    appt = await _fhir(network, f"Appointment/{booked['id']}", "doctor_a", Appointment)
    assert appt.id == booked["id"]
    assert appt.status == "booked"
    assert appt.start == datetime.fromisoformat(slot["start"])
    assert appt.minutesDuration == 30
    assert appt.reasonCode[0].text == "Ho kéo dài"
    assert appt.serviceType[0].coding[0].code == "audio"
    actors = {p.actor.reference for p in appt.participant}
    assert actors == {f"Patient/{patient_id}", f"Practitioner/{pid}"}

    fhir_slot_id = appt.slot[0].reference.removeprefix("Slot/")
    assert fhir_slot_id == slot["id"].replace("_", "-")
    fhir_slot = await _fhir(network, f"Slot/{fhir_slot_id}", "patient_self", Slot)
    assert fhir_slot.id == fhir_slot_id
    assert fhir_slot.status == "busy"
    assert (fhir_slot.start, fhir_slot.end) == (appt.start, appt.end)
    assert fhir_slot.schedule.reference == f"Schedule/{pid}"

    schedule = await _fhir(network, f"Schedule/{pid}", "trainee", Schedule)
    assert schedule.id == pid
    assert [a.reference for a in schedule.actor] == [f"Practitioner/{pid}"]
    assert schedule.planningHorizon.start < schedule.planningHorizon.end
    assert schedule.specialty[0].coding[0].code == "general_medicine"

    practitioner = await _fhir(network, f"Practitioner/{pid}", "patient_self", Practitioner)
    assert practitioner.id == pid
    assert practitioner.name[0].text == "Doctor A"
    assert practitioner.active is True

    patient = await _fhir(network, f"Patient/{patient_id}", "doctor_a", Patient)
    assert patient.id == patient_id
    assert {(i.system, i.value) for i in patient.identifier} == {
        ("http://fhir.ehealth.gov.vn/core/sid/national_id", CCCD),
        ("http://fhir.ehealth.gov.vn/core/sid/insurance_number", BHYT),
    }
    assert patient.gender == "male"
    assert patient.birthDate == date(1985, 4, 12)
    assert patient.managingOrganization.reference == f"Organization/{network.facilities['D1']}"

    commune = await _fhir(
        network, f"Organization/{network.facilities['K1']}", "patient_self", Organization
    )
    assert commune.partOf.reference == f"Organization/{network.facilities['D1']}"
    assert commune.identifier[0].value == "K1"
    district = await _fhir(
        network, f"Organization/{network.facilities['D1']}", "trainer", Organization
    )
    assert district.partOf is None
    assert district.name == "Bệnh viện huyện Mường Tè"


async def test_slots_are_free_busy_or_past_and_unknown_ones_404(network: Network) -> None:
    pid = await _open_since_yesterday(network, "doctor_a")
    first = (await free_slots(network, pid))[0]
    free = await _fhir(network, f"Slot/{first['id'].replace('_', '-')}", "trainee", Slot)
    assert free.status == "free"
    start = datetime.fromisoformat(first["start"])
    # A slot an hour or so earlier: past, and still offered unless it would be 23:30.
    past = next(
        start - timedelta(minutes=m)
        for m in (60, 90)
        if (start - timedelta(minutes=m)).strftime("%H:%M") != "23:30"
    )
    stamp = past.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    gone = await _fhir(network, f"Slot/{pid}-{stamp}", "trainee", Slot)
    assert gone.status == "busy-unavailable"
    odd = (start + timedelta(minutes=7)).astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    for bad in (f"{pid}-{odd}", f"{pid}-garbage", f"{MISSING}-{stamp}", first["id"]):
        assert await _status(network, f"Slot/{bad}", "trainee") == 404, bad


async def test_status_follows_the_lifecycle(network: Network) -> None:
    pid = await _open_since_yesterday(network, "doctor_a")
    slots = await free_slots(network, pid)
    first = await _book(network, slots[0]["id"], network.patients["patient_a"])
    checked_in = await network.client.post(
        f"/api/v1/appointments/{first['id']}/check-in", headers=await network.headers("doctor_a")
    )
    assert checked_in.status == 200, await checked_in.text()
    appt = await _fhir(network, f"Appointment/{first['id']}", "coordinator_a", Appointment)
    assert appt.status == "arrived"
    second = await _book(network, slots[3]["id"], network.patients["patient_a"])
    await network.client.post(
        f"/api/v1/appointments/{second['id']}/cancel",
        json={"reason": "Mưa lũ"},
        headers=await network.headers("coordinator_a"),
    )
    appt = await _fhir(network, f"Appointment/{second['id']}", "doctor_a", Appointment)
    assert appt.status == "cancelled"
    assert appt.cancelationReason.text == "Mưa lũ"
    freed = await _fhir(network, f"Slot/{slots[3]['id'].replace('_', '-')}", "doctor_a", Slot)
    assert freed.status == "free"


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (AppointmentStatus.BOOKED, "booked"),
        (AppointmentStatus.CHECKED_IN, "arrived"),
        (AppointmentStatus.IN_PROGRESS, "checked-in"),
        (AppointmentStatus.COMPLETED, "fulfilled"),
        (AppointmentStatus.CANCELLED, "cancelled"),
        (AppointmentStatus.NO_SHOW, "noshow"),
    ],
)
def test_every_status_maps_into_the_fhir_value_set(ours: AppointmentStatus, theirs: str) -> None:
    start = datetime(2030, 1, 7, 1, 30, tzinfo=UTC).astimezone(HCM)
    appt = AppointmentOut(
        id="a1",
        slot_id="p1_20300107T0130Z",
        patient=PersonRef(id="pat1", full_name="A"),
        practitioner=PersonRef(id="p1", full_name="B"),
        facility=FacilityRef(id="f1", code="D1", name="D", level=FacilityLevel.DISTRICT),
        start=start,
        end=start + timedelta(minutes=30),
        mode=VisitMode.VIDEO,
        reason="x",
        status=ours,
        booked_by=PersonRef(id="u1", full_name="C"),
        booked_on_behalf=True,
        cancel_reason=None,
        checked_in_at=None,
        room_id=None,
        version=1,
        created_at=start,
    )
    assert mapping.appointment(appt).status == theirs
    assert set(systems.APPOINTMENT_STATUS) == set(AppointmentStatus)


async def test_another_facility_gets_404_like_a_missing_record(network: Network) -> None:
    pid = await _open_since_yesterday(network, "doctor_a")
    slot = (await free_slots(network, pid))[0]
    booked = await _book(network, slot["id"], network.patients["patient_a"])
    patient = network.patients["patient_a"]
    assert await _status(network, f"Patient/{patient}", "doctor_a") == 200
    assert await _status(network, f"Patient/{patient}", "doctor_b") == 404
    assert await _status(network, f"Appointment/{booked['id']}", "doctor_b") == 404
    assert await _status(network, f"Appointment/{booked['id']}", "patient_self") == 404
    foreign = await network.client.get(
        f"/fhir/Patient/{patient}", headers=await network.headers("doctor_b")
    )
    missing = await network.client.get(
        f"/fhir/Patient/{MISSING}", headers=await network.headers("doctor_b")
    )
    strip = {"request_id"}
    assert {k: v for k, v in (await foreign.json()).items() if k not in strip} == {
        k: v for k, v in (await missing.json()).items() if k not in strip
    }


async def test_reading_a_patient_is_audited(network: Network) -> None:
    patient = network.patients["patient_a"]
    await _fhir(network, f"Patient/{patient}", "coordinator_a", Patient)
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        reads = (
            await uow.session.execute(
                select(AuditEvent.actor_id, AuditEvent.object_type).where(
                    AuditEvent.action == "patient.read", AuditEvent.object_id == patient
                )
            )
        ).all()
    assert [tuple(row) for row in reads] == [(network.users["coordinator_a"], "patient")]


async def test_unknown_types_and_malformed_ids_are_problem_404s(network: Network) -> None:
    for path in (
        "Observation/abc",
        "Encounter/abc",
        "Patient/has_underscore",
        "Patient/%00",
        f"Organization/{'x' * 65}",
        f"Practitioner/{MISSING}",
        f"Schedule/{MISSING}",
        f"Organization/{MISSING}",
    ):
        resp = await network.client.get(f"/fhir/{path}", headers=await network.headers("admin"))
        assert resp.status == 404, path
        body = await resp.json(content_type=None)
        assert resp.content_type == "application/problem+json", path
        assert body["code"] == "not_found"
    assert (await network.client.get(f"/fhir/Practitioner/{MISSING}")).status == 401


async def test_the_capability_statement_is_public_and_lists_the_reads(network: Network) -> None:
    statement = await _fhir(network, "metadata", None, CapabilityStatement)
    assert statement.fhirVersion == "4.0.1"
    served = {r.type: [i.code for i in r.interaction] for r in statement.rest[0].resource}
    searched = {name for name in mapping.SERVED if mapping.SEARCH_PARAMS.get(name)}
    assert searched == {"ServiceRequest", "Communication"}
    assert served == {
        name: ["read", "search-type"] if name in searched else ["read"] for name in mapping.SERVED
    }
    resp = await network.client.get("/fhir/metadata?_format=json")
    assert resp.status == 200
    xml = await network.client.get("/fhir/metadata?_format=xml")
    assert xml.status == 400
