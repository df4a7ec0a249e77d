"""The care team of a consult sees the patient's sex, age and date of birth at a glance
(consult page, opinion form, queue item) and the identity and insurance numbers on the
printable record; anyone else sees none of it."""

from __future__ import annotations

from datetime import date

import pytest

from tests.support.consults import act, file_consult
from tests.support.network import Network
from tests.support.pages import browse_as, page, with_every_token

NATIONAL_ID = "012062005144"
INSURANCE = "GD4121122334455"


@pytest.fixture
async def network(network: Network) -> Network:
    """The shared network, with every API token fetched first."""
    return await with_every_token(network)


def _age(born: date) -> int:
    today = date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


async def _patient(net: Network) -> str:
    resp = await net.client.post(
        "/api/v1/patients",
        json={
            "full_name": "Nguyễn Văn Bình",
            "national_id": NATIONAL_ID,
            "insurance_number": INSURANCE,
            "date_of_birth": "1962-07-21",
            "sex": "male",
        },
        headers=await net.headers("doctor_a"),
    )
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def test_the_care_team_sees_demographics_on_every_consult_page(network: Network) -> None:
    consult = await file_consult(network, patient_id=await _patient(network))
    assert consult["patient"]["date_of_birth"] == "1962-07-21"
    assert consult["patient"]["sex"] == "male"
    brief = f"Nam · {_age(date(1962, 7, 21))} tuổi · sinh ngày 21/07/1962"
    await browse_as(network, "specialist")
    queue = await page(network, "/consults")
    assert brief in queue
    assert brief in await page(network, f"/consults/{consult['id']}")
    await act(network, "specialist", consult["id"], "accept")
    assert brief in await page(network, f"/consults/{consult['id']}/opinion")
    printed = await page(network, f"/consults/{consult['id']}/print")
    assert brief in printed
    assert NATIONAL_ID in printed
    assert INSURANCE in printed


async def test_a_patient_without_recorded_demographics_says_so(network: Network) -> None:
    consult = await file_consult(network)
    await browse_as(network, "doctor_a")
    shown = await page(network, f"/consults/{consult['id']}")
    assert "chưa ghi tuổi và giới tính" in shown


async def test_outside_the_care_team_no_demographics_are_shown(network: Network) -> None:
    consult = await file_consult(network, patient_id=await _patient(network))
    admin = await network.client.get(
        f"/api/v1/consults/{consult['id']}", headers=await network.headers("admin")
    )
    assert (await admin.json())["patient"] is None
    await browse_as(network, "admin")
    shown = await page(network, f"/consults/{consult['id']}")
    for private in ("21/07/1962", NATIONAL_ID, "Nguyễn Văn Bình"):
        assert private not in shown
    await browse_as(network, "doctor_b")
    await page(network, f"/consults/{consult['id']}/print", status=404)


async def test_only_a_specialist_other_than_the_requester_can_be_named(network: Network) -> None:
    """The picker's rule holds at the API too: a GP holding the specialty code, or the
    requester himself, is no specialist to name."""
    ids = {}
    for who in ("doctor_a", "doctor_b", "specialist"):
        me = await network.client.get("/api/v1/me", headers=await network.headers(who))
        ids[who] = (await me.json())["practitioner_id"]
    for who in ("doctor_a", "doctor_b"):
        resp = await network.client.post(
            "/api/v1/consults",
            json={
                "patient_id": network.patients["patient_a"],
                "specialty": "general_medicine",
                "urgency": "routine",
                "question": "Hỏi ý kiến",
                "summary": {"history": "Ho kéo dài"},
                "target_practitioner_id": ids[who],
            },
            headers=await network.headers("doctor_a"),
        )
        assert resp.status == 400, who
        assert (await resp.json())["code"] == "validation_error"
    named = await file_consult(network, target_practitioner_id=ids["specialist"])
    assert named["target_practitioner_id"] == ids["specialist"]
