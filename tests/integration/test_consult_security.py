"""Security review of consults: who may close a request others work on, what of the
patient a specialist party learns through the FHIR export, message rates, and the audit
of every clinical read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from telehealth import keys
from telehealth.auth.models import AuditEvent
from telehealth.consults.answers import MESSAGES_PER_WINDOW
from tests.support.consults import (
    act,
    add_provincial_hospital,
    add_specialist,
    emails,
    file_consult,
    with_email,
)
from tests.support.network import Network
from tests.support.pages import browse_as, page
from tests.support.scheduling import practitioner_id


async def status_of(net: Network, consult_id: str) -> str:
    resp = await net.client.get(
        f"/api/v1/consults/{consult_id}", headers=await net.headers("doctor_a")
    )
    return str((await resp.json())["status"])


async def test_a_colleague_of_the_queue_cannot_decline_a_consult_another_works_on(
    network: Network,
) -> None:
    await add_specialist(network, "cardio_two", "C0", ["cardiology"])
    cid = (await file_consult(network))["id"]
    assert (await act(network, "specialist", cid, "accept")).status == 200
    refused = await act(network, "cardio_two", cid, "decline", {"reason": "Không cần"})
    assert refused.status == 403, await refused.text()
    assert (await refused.json())["code"] == "forbidden"
    assert await status_of(network, cid) == "accepted"
    # The specialist working on it still may.
    declined = await act(network, "specialist", cid, "decline", {"reason": "Không thuộc"})
    assert declined.status == 200
    assert await status_of(network, cid) == "declined"


async def test_a_named_specialist_who_handed_over_cannot_send_it_back_to_the_queue(
    network: Network,
) -> None:
    named = await add_specialist(network, "cardio_named", "C0", ["cardiology"])
    colleague = await practitioner_id(network, "specialist")
    cid = (await file_consult(network, target_practitioner_id=named))["id"]
    assert (await act(network, "cardio_named", cid, "accept")).status == 200
    handed = await act(
        network, "cardio_named", cid, "assign", {"practitioner_id": colleague, "mode": "reassign"}
    )
    assert handed.status == 200, await handed.text()
    refused = await act(network, "cardio_named", cid, "decline", {"reason": "Nghỉ phép"})
    assert refused.status == 403, await refused.text()
    body = await (
        await network.client.get(
            f"/api/v1/consults/{cid}", headers=await network.headers("specialist")
        )
    ).json()
    assert body["status"] == "accepted"
    assert [a["practitioner_id"] for a in body["assignees"]] == [colleague]


async def _patient_with_contacts(net: Network) -> str:
    resp = await net.client.post(
        "/api/v1/patients",
        json={
            "full_name": "Lò Thị Mai",
            "date_of_birth": "1950-02-03",
            "sex": "female",
            "phone": "0987654321",
            "address": "Bản Nậm Củm, Mường Tè",
        },
        headers=await net.headers("doctor_a"),
    )
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


def _patient_in(bundle: dict[str, Any]) -> dict[str, Any]:
    found = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(found) == 1
    return dict(found[0])


async def test_the_export_shows_a_specialist_only_what_fhir_patient_would(
    network: Network,
) -> None:
    """A specialist of another facility may not read /fhir/Patient: the export gives them
    who the patient is clinically (name, sex, birth date), no contact or identifiers."""
    patient = await _patient_with_contacts(network)
    cid = (await file_consult(network, patient_id=patient))["id"]
    specialist = await network.headers("specialist")
    direct = await network.client.get(f"/fhir/Patient/{patient}", headers=specialist)
    assert direct.status == 404
    url = f"/fhir/ServiceRequest/{cid}/$everything"
    resp = await network.client.get(url, headers=specialist)
    assert resp.status == 200, await resp.text()
    shown = _patient_in(await resp.json())
    assert shown["gender"] == "female"
    assert shown["birthDate"] == "1950-02-03"
    assert shown["name"][0]["text"] == "Lò Thị Mai"
    for private in ("telecom", "address", "identifier"):
        assert private not in shown, private
    # The requester, who may read the patient record, gets all of it.
    mine = await network.client.get(url, headers=await network.headers("doctor_a"))
    whole = _patient_in(await mine.json())
    assert whole["telecom"][0]["value"] == "0987654321"
    assert whole["address"][0]["text"] == "Bản Nậm Củm, Mường Tè"


async def test_messages_on_one_consult_are_rate_limited_per_author(network: Network) -> None:
    """Every message stays on the timeline: a runaway client is stopped with 429."""
    cid = (await file_consult(network))["id"]
    for n in range(MESSAGES_PER_WINDOW):
        sent = await act(network, "doctor_a", cid, "messages", {"text": f"Tin {n}"})
        assert sent.status == 201, await sent.text()
    refused = await act(network, "doctor_a", cid, "messages", {"text": "Thêm"})
    assert refused.status == 429
    assert (await refused.json())["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "60"
    # Another party is not held back by it.
    assert (await act(network, "specialist", cid, "messages", {"text": "Đã nhận"})).status == 201


async def test_a_specialist_who_hands_the_consult_back_loses_sight_of_it(
    network: Network,
) -> None:
    """A paediatrician brought in and then handing over is no party any more: 404 for the
    consult, its timeline and its files, and no more answering."""
    paediatrician = await add_specialist(network, "paeds", "C0", ["paediatrics"])
    cardiologist = await practitioner_id(network, "specialist")
    cid = (await file_consult(network))["id"]
    assert (await act(network, "specialist", cid, "accept")).status == 200
    added = await act(
        network, "specialist", cid, "assign", {"practitioner_id": paediatrician, "mode": "add"}
    )
    assert added.status == 200
    url = f"/api/v1/consults/{cid}"
    paeds = await network.headers("paeds")
    assert (await network.client.get(url + "/attachments", headers=paeds)).status == 200
    back = await act(
        network, "paeds", cid, "assign", {"practitioner_id": cardiologist, "mode": "reassign"}
    )
    assert back.status == 200, await back.text()
    for path in ("", "/timeline", "/opinions", "/attachments"):
        assert (await network.client.get(url + path, headers=paeds)).status == 404, path
    opinion = {"assessment": "Ổn", "recommendations": "Theo dõi", "disposition": "manage_locally"}
    assert (await act(network, "paeds", cid, "opinion", opinion)).status == 404
    fhir = await network.client.get(f"/fhir/ServiceRequest/{cid}/$everything", headers=paeds)
    assert fhir.status == 404


async def test_every_read_of_clinical_content_is_audited(network: Network) -> None:
    """The timeline, opinions, amendments and file list are clinical reads like the consult
    itself; a page that shows them is audited once, by its read of the consult."""
    cid = (await file_consult(network))["id"]
    before = await _reads(network, cid)
    for part in ("timeline", "opinions", "amendments", "attachments"):
        resp = await network.client.get(
            f"/api/v1/consults/{cid}/{part}", headers=await network.headers("specialist")
        )
        assert resp.status == 200, await resp.text()
    api_reads = (await _reads(network, cid))[len(before) :]
    assert api_reads == [
        ("specialist", part) for part in ("timeline", "opinions", "amendments", "attachments")
    ]
    # A refused caller reads nothing and leaves no read behind.
    refused = await network.client.get(
        f"/api/v1/consults/{cid}/timeline", headers=await network.headers("doctor_b")
    )
    assert refused.status == 404
    assert len(await _reads(network, cid)) == len(before) + 4
    # The consult page shows all four parts and records one read, of the consult.
    await browse_as(network, "specialist")
    assert 'id="timeline"' in await page(network, f"/consults/{cid}")
    assert (await _reads(network, cid))[len(before) + 4 :] == [("specialist", None)]


async def _reads(net: Network, consult_id: str) -> list[tuple[str, str | None]]:
    """(username, part) of every audited read of a consult, oldest first."""
    names = {user_id: name for name, user_id in net.users.items()}
    async with net.client.app[keys.SESSIONMAKER]() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "consult.read", AuditEvent.object_id == consult_id)
            .order_by(AuditEvent.at)
        )
        return [(names.get(e.actor_id or "", "?"), (e.details or {}).get("part")) for e in rows]


async def test_messages_leaving_the_system_carry_no_clinical_text(network: Network) -> None:
    await with_email(network, "doctor_a", "bs.a@bvh.vn")
    cid = (await file_consult(network))["id"]
    await act(network, "specialist", cid, "accept")
    question = "Bệnh nhân có tiền sử nhồi máu cơ tim không?"
    await act(network, "specialist", cid, "request-info", {"question": question})
    reason = "Bệnh nhân HIV dương tính, cần chuyên khoa truyền nhiễm"
    declined = await file_consult(network)
    await act(network, "specialist", declined["id"], "decline", {"reason": reason})
    [asked] = await emails(network, cid, "consult.info_requested")
    [refused] = await emails(network, declined["id"], "consult.declined")
    assert question not in asked.body
    assert "nhồi máu" not in asked.body
    assert reason not in refused.body
    assert "HIV" not in refused.body
    assert cid[:8].upper() in asked.body  # which consult: the reader signs in for the rest


async def test_requests_naming_no_facility_wait_only_at_hub_hospitals(network: Network) -> None:
    """A specialist at a district hospital sees a request of their specialty only when it
    names their hospital (or them); one at a provincial hospital, a hub, sees the rest too."""
    await add_provincial_hospital(network)
    await add_specialist(network, "bs.tinh", "P1", ["cardiology"])
    await add_specialist(network, "bs.huyen", "D2", ["cardiology"])
    anywhere = (await file_consult(network))["id"]
    named_here = (await file_consult(network, target_facility_id=network.facilities["D2"]))["id"]

    async def queue_of(who: str) -> set[str]:
        resp = await network.client.get(
            "/api/v1/consults?queue=specialty", headers=await network.headers(who)
        )
        return {c["id"] for c in (await resp.json())["items"]}

    async def status(who: str, cid: str) -> int:
        resp = await network.client.get(
            f"/api/v1/consults/{cid}", headers=await network.headers(who)
        )
        return resp.status

    assert await queue_of("bs.huyen") == {named_here}
    assert await status("bs.huyen", anywhere) == 404
    assert await status("bs.huyen", named_here) == 200
    assert await queue_of("bs.tinh") == {anywhere}
    assert await status("bs.tinh", anywhere) == 200
    assert await queue_of("specialist") == {anywhere}  # the central hospital's
