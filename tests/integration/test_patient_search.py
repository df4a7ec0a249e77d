"""Finding a patient as staff type it: without tone marks or capitals, with spaces in the
phone number, by citizen identity or insurance number; and who may find whom."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from telehealth import keys
from telehealth.auth.models import AuditEvent
from telehealth.db.uow import UnitOfWork
from tests.support.network import Network

BINH = {
    "full_name": "Nguyễn Văn Bình",
    "national_id": "012062005144",
    "insurance_number": "GD4121122334455",
    "date_of_birth": "1962-07-21",
    "sex": "male",
    "phone": "0987 654 321",
}
NO = {"full_name": "Hoàng Thị Nở", "phone": "02143812345"}
DUNG = {"full_name": "Đỗ Đức Dũng"}


async def _register(network: Network, who: str, fields: dict[str, str]) -> dict[str, Any]:
    resp = await network.client.post(
        "/api/v1/patients", json=fields, headers=await network.headers(who)
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _found(network: Network, who: str, q: str) -> list[str]:
    resp = await network.client.get(
        "/api/v1/patients", params={"q": q}, headers=await network.headers(who)
    )
    assert resp.status == 200, await resp.text()
    return sorted(p["full_name"] for p in (await resp.json())["items"])


async def test_names_are_found_without_tone_marks_or_capitals(network: Network) -> None:
    for fields in (BINH, NO, DUNG):
        await _register(network, "doctor_a", fields)
    cases = {
        "Nguyen Van Binh": ["Nguyễn Văn Bình"],
        "nguyễn văn bình": ["Nguyễn Văn Bình"],
        "hoang": ["Hoàng Thị Nở"],
        "Hoang  Thi No": ["Hoàng Thị Nở"],
        "HOÀNG THỊ NỞ": ["Hoàng Thị Nở"],
        "do duc dung": ["Đỗ Đức Dũng"],
        "Đức": ["Đỗ Đức Dũng"],
        "binh": ["Nguyễn Văn Bình"],
        "%": [],
        "nguyen van binhh": [],
    }
    for q, names in cases.items():
        assert await _found(network, "doctor_a", q) == names, q


async def test_phone_and_identifiers_are_found_in_any_spelling(network: Network) -> None:
    stored = await _register(network, "coordinator_a", BINH)
    assert stored["phone"] == "0987654321"
    landline = await _register(network, "coordinator_a", NO)
    assert landline["phone"] == "02143812345"
    cases = {
        "0987 654 321": ["Nguyễn Văn Bình"],
        "+84 987 654 321": ["Nguyễn Văn Bình"],
        "0987.654.321": ["Nguyễn Văn Bình"],
        "0214 381 2345": ["Hoàng Thị Nở"],
        "012062005144": ["Nguyễn Văn Bình"],
        "gd4121122334455": ["Nguyễn Văn Bình"],
        "0987 654 320": [],
    }
    for q, names in cases.items():
        assert await _found(network, "doctor_a", q) == names, q


async def test_a_coordinator_finds_a_self_registered_patient_by_phone_only(
    network: Network,
) -> None:
    # patient_self registered with 0912345678 and has no home facility.
    assert await _found(network, "coordinator_a", "0912 345 678") == ["Lò Văn Tự"]
    assert await _found(network, "coordinator_a", "+84912345678") == ["Lò Văn Tự"]
    # Not by name: the list of self-registered patients cannot be browsed.
    assert await _found(network, "coordinator_a", "Lo Van Tu") == []
    # A doctor books only for their own facility's patients, so finds no one here.
    assert await _found(network, "doctor_a", "0912345678") == []


async def test_another_facility_s_patient_is_not_found_and_reads_are_audited(
    network: Network,
) -> None:
    binh = await _register(network, "doctor_a", BINH)
    assert await _found(network, "doctor_b", "Nguyen Van Binh") == []
    assert await _found(network, "doctor_b", "0987654321") == []
    assert await _found(network, "coordinator_a", "nguyen van binh") == ["Nguyễn Văn Bình"]
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER], read_only=True) as uow:
        rows = await uow.session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "patient.list")
        )
        listed = [details["ids"] for details in rows]
    assert listed == [[binh["id"]]]


async def test_a_patient_is_refused_the_search(network: Network) -> None:
    resp = await network.client.get(
        "/api/v1/patients", params={"q": "binh"}, headers=await network.headers("patient_self")
    )
    assert resp.status == 403
    assert (await resp.json())["code"] == "forbidden"
