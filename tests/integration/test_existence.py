"""A record the caller may not see answers exactly like one that does not exist: booking
for another facility's patient, and registering a patient whose national id or
insurance number is already on file at another facility."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from telehealth import keys
from telehealth.auth.models import AuditEvent
from telehealth.db.uow import UnitOfWork
from tests.support.network import Network
from tests.support.scheduling import free_slots, open_every_day

RANDOM_ID = "00000000-0000-4000-8000-000000000000"
NATIONAL_ID = "001203004567"
INSURANCE = "DN4010123456789"


def _stripped(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


async def test_booking_for_a_foreign_patient_looks_like_a_missing_one(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]["id"]
    for who in ("doctor_b", "coordinator_a"):
        answers = []
        foreign = "patient_b" if who == "coordinator_a" else "patient_a"
        for patient_id in (network.patients[foreign], RANDOM_ID):
            body = {"slot_id": slot, "patient_id": patient_id, "reason": "Khám lại"}
            resp = await network.client.post(
                "/api/v1/appointments", json=body, headers=await network.headers(who)
            )
            answers.append((resp.status, _stripped(await resp.json())))
        assert answers[0] == answers[1], who
        assert answers[0][0] == 404


async def _create(network: Network, who: str, **fields: str) -> Any:
    return await network.client.post(
        "/api/v1/patients",
        json={"full_name": "Giàng A Páo", **fields},
        headers=await network.headers(who),
    )


async def test_an_identifier_on_file_elsewhere_is_not_an_oracle(network: Network) -> None:
    first = await _create(network, "doctor_a", national_id=NATIONAL_ID, insurance_number=INSURANCE)
    assert first.status == 201, await first.text()
    # At another facility the same identifiers register a new record, as a fresh one does.
    elsewhere = await _create(
        network, "doctor_b", national_id=NATIONAL_ID, insurance_number=INSURANCE
    )
    fresh = await _create(network, "doctor_b", national_id="001203009999")
    assert elsewhere.status == fresh.status == 201
    found = await network.client.get(
        f"/api/v1/patients?q={NATIONAL_ID}", headers=await network.headers("doctor_b")
    )
    ids = [p["id"] for p in (await found.json())["items"]]
    assert ids == [(await elsewhere.json())["id"]]
    # The two records are flagged for the merge workflow, in the audit log only.
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER], read_only=True) as uow:
        rows = await uow.session.execute(
            select(AuditEvent.object_id, AuditEvent.details).where(
                AuditEvent.action == "patient.possible_duplicate"
            )
        )
        flagged = [(object_id, details["matches"]) for object_id, details in rows]
    assert flagged == [((await elsewhere.json())["id"], [(await first.json())["id"]])]
    assert "possible_duplicate" not in await elsewhere.text()


async def test_an_identifier_on_file_at_ones_own_facility_is_still_a_conflict(
    network: Network,
) -> None:
    assert (await _create(network, "doctor_a", national_id=NATIONAL_ID)).status == 201
    again = await _create(network, "coordinator_a", national_id=NATIONAL_ID)
    assert again.status == 409
