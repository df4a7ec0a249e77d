"""Consults over FHIR: every resource validates with R4B, the export's references resolve
within it, and the status maps follow a consult through its whole life."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.composition import Composition
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task
from sqlalchemy import select

from telehealth import keys
from telehealth.accounts.models import Practitioner
from telehealth.auth.models import AuditEvent
from telehealth.consults.models import ConsultMessage, ConsultStatus, Urgency
from telehealth.db.uow import UnitOfWork
from telehealth.fhir import systems
from tests.support.consult_rows import SHA, attach
from tests.support.consults import act, file_consult
from tests.support.network import Network

MISSING = "00000000-0000-4000-8000-000000000000"


async def _get(net: Network, path: str, who: str = "doctor_a") -> Any:
    resp = await net.client.get(f"/fhir/{path}", headers=await net.headers(who))
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/fhir+json"
    return await resp.json()


async def _read(net: Network, path: str, model: type[Resource], who: str = "doctor_a") -> Any:
    body = await _get(net, path, who)
    assert body["resourceType"] == model.__name__
    return model.model_validate(body)


async def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def message_ids(net: Network, consult_id: str) -> list[str]:
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        rows = await uow.session.scalars(
            select(ConsultMessage.id)
            .where(ConsultMessage.consult_id == consult_id)
            .order_by(ConsultMessage.created_at)
        )
        return list(rows.all())


@dataclass
class Consult:
    """A consult taken through its whole life through the JSON API."""

    id: str
    session_at: datetime
    messages: list[str]
    attachments: list[str]
    opinions: list[dict[str, Any]]


async def whole_consult(net: Network) -> Consult:
    """Urgent, for cardiology at C0: accepted, info asked and given, a session booked,
    two files, an opinion (transfer to C0) and its amendment."""
    cid = (await file_consult(net, urgency="urgent", target_facility_id=net.facilities["C0"]))["id"]
    await _ok(await act(net, "specialist", cid, "accept"))
    await _ok(await act(net, "specialist", cid, "request-info", {"question": "Men tim?"}))
    await _ok(await act(net, "doctor_a", cid, "messages", {"text": "Troponin âm tính."}), 201)
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    await _ok(await act(net, "specialist", cid, "schedule", {"start": start.isoformat()}))
    files = [
        await attach(net, cid, "doctor_a", "dicom", {"modality": "CT", "body_part": "CHEST"}),
        await attach(net, cid, "specialist", "image", {"width": 800, "height": 600}),
    ]
    first = {
        "assessment": "Đau thắt ngực không ổn định.\nNguy cơ trung bình.",
        "recommendations": "Chuyển tuyến chụp mạch vành.",
        "recommended_tests": "Troponin lặp lại sau 3 giờ",
        "disposition": "transfer",
        "transfer_facility_id": net.facilities["C0"],
    }
    await _ok(await act(net, "specialist", cid, "opinion", first))
    second = {
        "assessment": "Đau ngực ổn định <sau> khi xem lại ECG & men tim.",
        "recommendations": "Điều trị nội khoa tại huyện.",
        "recommended_treatment": "Aspirin, statin",
        "disposition": "manage_locally",
        "amendment_reason": "Có kết quả men tim lần 2",
    }
    await _ok(await act(net, "specialist", cid, "opinion", second))
    opinions = await _ok(
        await net.client.get(
            f"/api/v1/consults/{cid}/opinions", headers=await net.headers("doctor_a")
        )
    )
    return Consult(cid, start, await message_ids(net, cid), files, opinions)


def references(value: Any) -> set[str]:
    """Every literal reference in a JSON document."""
    if isinstance(value, dict):
        found = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        return found.union(*(references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(references(v) for v in value))
    return set()


async def practitioner_of(net: Network, username: str) -> str:
    async with UnitOfWork(net.client.app[keys.SESSIONMAKER]) as uow:
        found = await uow.session.scalar(
            select(Practitioner.id).where(Practitioner.user_id == net.users[username])
        )
    assert found is not None
    return str(found)


async def test_every_resource_of_a_consult_reads_and_validates(network: Network) -> None:
    c = await whole_consult(network)
    specialist = await practitioner_of(network, "specialist")
    doctor = await practitioner_of(network, "doctor_a")
    patient = network.patients["patient_a"]

    request = await _read(network, f"ServiceRequest/{c.id}", ServiceRequest)
    assert (request.status, request.intent, request.priority) == ("completed", "order", "urgent")
    assert request.subject.reference == f"Patient/{patient}"
    assert request.requester.reference == f"Practitioner/{doctor}"
    assert request.performerType.coding[0].system == systems.SPECIALTY
    assert request.performerType.coding[0].code == "cardiology"
    assert [p.reference for p in request.performer] == [f"Organization/{network.facilities['C0']}"]
    assert request.reasonCode[0].text == "Có cần chuyển tuyến chụp mạch vành không?"
    assert [s.reference for s in request.supportingInfo] == [
        f"DocumentReference/{a}" for a in c.attachments
    ]
    assert request.occurrenceDateTime == c.session_at
    assert request.authoredOn is not None
    summary = next(e for e in request.extension if e.url == systems.EXT_CASE_SUMMARY)
    parts = {e.url: e for e in summary.extension}
    assert parts["history"].valueString == "Đau ngực trái 2 ngày, tăng khi gắng sức."
    assert parts["allergies"].valueString == "Không"
    vitals = {
        v.url: (v.valueQuantity.value, v.valueQuantity.code) for v in parts["vitals"].extension
    }
    assert vitals["systolic_bp"] == (150, "mm[Hg]")
    assert vitals["heart_rate"] == (96, "/min")
    assert "History: Đau ngực trái" in request.note[0].text
    assert "Vitals: heart_rate 96 /min" in request.note[0].text

    task = await _read(network, f"Task/{c.id}", Task, "specialist")
    assert task.status == "completed"
    assert task.businessStatus.coding[0].code == "answered"
    assert [b.reference for b in task.basedOn] == [f"ServiceRequest/{c.id}"]
    assert task.for_fhir.reference == f"Patient/{patient}"
    assert task.owner.reference == f"Practitioner/{specialist}"
    assert task.restriction.period.end > task.authoredOn
    assert task.executionPeriod.start <= task.executionPeriod.end
    assert (task.intent, task.priority) == ("order", "urgent")
    assert task.output[0].valueReference.reference == f"Composition/{c.opinions[-1]['id']}"

    question, reply = c.messages
    asked = await _read(network, f"Communication/{question}", Communication)
    assert asked.sender.reference == f"Practitioner/{specialist}"
    assert asked.payload[0].contentString == "Men tim?"
    assert [r.reference for r in asked.recipient] == [f"Practitioner/{doctor}"]
    answered = await _read(network, f"Communication/{reply}", Communication, "specialist")
    assert answered.sender.reference == f"Practitioner/{doctor}"
    assert answered.payload[0].contentString == "Troponin âm tính."
    assert [b.reference for b in answered.basedOn] == [f"ServiceRequest/{c.id}"]
    assert answered.subject.reference == f"Patient/{patient}"
    assert answered.sent >= asked.sent

    v1, v2 = c.opinions
    first = await _read(network, f"Composition/{v1['id']}", Composition)
    second = await _read(network, f"Composition/{v2['id']}", Composition, "specialist")
    assert (first.status, second.status) == ("final", "amended")
    assert first.relatesTo is None
    assert second.relatesTo[0].code == "replaces"
    assert second.relatesTo[0].targetReference.reference == f"Composition/{v1['id']}"
    assert first.identifier.value == second.identifier.value == c.id
    for composition, opinion in ((first, v1), (second, v2)):
        assert composition.date == datetime.fromisoformat(opinion["signed_at"]).replace(
            microsecond=0
        )
        assert composition.author[0].reference == f"Practitioner/{specialist}"
        attester = composition.attester[0]
        assert (attester.mode, attester.party.reference) == ("legal", f"Practitioner/{specialist}")
        assert attester.time == composition.date
        hashes = [e.valueString for e in composition.extension if e.url == systems.EXT_SHA256]
        assert hashes == [opinion["content_hash"]]
    assert [s.code.coding[0].code for s in first.section] == [
        "assessment",
        "recommendations",
        "recommended_tests",
        "disposition",
    ]
    assert first.section[-1].entry[0].reference == f"Organization/{network.facilities['C0']}"
    assert [s.code.coding[0].code for s in second.section] == [
        "assessment",
        "recommendations",
        "recommended_treatment",
        "disposition",
        "amendment_reason",
    ]
    # Narrative is escaped XHTML, one paragraph per line.
    assert "&lt;sau&gt;" in second.section[0].text.div
    assert "&amp; men tim" in second.section[0].text.div
    assert first.section[0].text.div.count("<p>") == 2


async def test_attachments_are_document_references_without_a_sha1_hash(
    network: Network,
) -> None:
    cid = (await file_consult(network))["id"]
    dicom = await attach(network, cid, "doctor_a", "dicom", {"modality": "MR", "body_part": "HEAD"})
    image = await attach(network, cid, "doctor_a", "image", {"width": 10, "height": 10})
    doc = await _read(network, f"DocumentReference/{dicom}", DocumentReference, "specialist")
    attachment = doc.content[0].attachment
    assert attachment.contentType == "application/dicom"
    assert attachment.size == 123456
    assert attachment.hash is None
    assert [e.valueString for e in attachment.extension] == [SHA]
    assert attachment.title == doc.description == "ct-nguc.dcm"
    assert attachment.url.endswith(f"/api/v1/consults/{cid}/attachments/{dicom}")
    assert attachment.creation == doc.date
    assert [r.reference for r in doc.context.related] == [f"ServiceRequest/{cid}"]
    assert doc.context.event[0].coding[0].system == systems.DICOM
    assert doc.context.event[0].coding[0].code == "MR"
    assert [e.valueString for e in doc.extension] == ["HEAD"]
    assert doc.type.coding[0].code == "dicom"
    assert doc.status == "current"
    picture = await _read(network, f"DocumentReference/{image}", DocumentReference)
    assert picture.context.event is None
    assert picture.extension is None
    assert picture.type.coding[0].code == "image"


async def test_the_export_is_a_collection_whose_references_all_resolve(
    network: Network,
) -> None:
    c = await whole_consult(network)
    body = await _get(network, f"ServiceRequest/{c.id}/$everything", "specialist")
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection"
    entries = {f"{e.resource.get_resource_type()}/{e.resource.id}": e for e in bundle.entry}
    assert len(entries) == len(bundle.entry), "an entry appears twice"
    base = network.client.app[keys.SETTINGS].public_url.rstrip("/") + "/fhir/"
    for key, entry in entries.items():
        assert entry.fullUrl == base + key
    assert references(body) <= set(entries), references(body) - set(entries)
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds[:3] == ["ServiceRequest", "Task", "Patient"]
    assert kinds.count("Communication") == 2
    assert kinds.count("DocumentReference") == 2
    assert kinds.count("Composition") == 2
    expected = {
        f"ServiceRequest/{c.id}",
        f"Task/{c.id}",
        f"Patient/{network.patients['patient_a']}",
        f"Practitioner/{await practitioner_of(network, 'doctor_a')}",
        f"Practitioner/{await practitioner_of(network, 'specialist')}",
        f"Organization/{network.facilities['C0']}",
        f"Organization/{network.facilities['D1']}",
        *(f"Communication/{m}" for m in c.messages),
        *(f"DocumentReference/{a}" for a in c.attachments),
        *(f"Composition/{o['id']}" for o in c.opinions),
    }
    assert set(entries) == expected


async def test_an_organizations_parent_comes_along_in_the_export(network: Network) -> None:
    # A consult named to the commune station K1 pulls in D1, the station's `partOf`.
    cid = (await file_consult(network, target_facility_id=network.facilities["K1"]))["id"]
    body = await _get(network, f"ServiceRequest/{cid}/$everything")
    organizations = {
        e["resource"]["id"]
        for e in body["entry"]
        if e["resource"]["resourceType"] == "Organization"
    }
    assert organizations == {network.facilities["K1"], network.facilities["D1"]}
    keys_ = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body["entry"]}
    assert references(body) <= keys_


async def _statuses(net: Network, cid: str, who: str = "doctor_a") -> tuple[str, str, str]:
    request = await _read(net, f"ServiceRequest/{cid}", ServiceRequest, who)
    task = await _read(net, f"Task/{cid}", Task, who)
    assert task.businessStatus.coding[0].system == systems.CONSULT_STATUS
    return request.status, task.status, task.businessStatus.coding[0].code


async def test_the_status_maps_follow_the_life_of_a_consult(network: Network) -> None:
    cid = (await file_consult(network, urgency="emergency", draft=True))["id"]
    assert await _statuses(network, cid) == ("draft", "draft", "draft")
    draft = await _read(network, f"ServiceRequest/{cid}", ServiceRequest)
    assert (draft.authoredOn, draft.priority) == (None, "stat")
    await _ok(await act(network, "doctor_a", cid, "submit"))
    assert await _statuses(network, cid) == ("active", "requested", "submitted")
    queued = await _read(network, f"Task/{cid}", Task)
    assert queued.owner is None
    assert queued.executionPeriod is None
    assert queued.restriction.period.end is not None
    await _ok(await act(network, "specialist", cid, "accept"))
    assert await _statuses(network, cid) == ("active", "accepted", "accepted")
    await _ok(await act(network, "specialist", cid, "request-info", {"question": "ECG?"}))
    assert await _statuses(network, cid) == ("active", "on-hold", "info_requested")
    await _ok(await act(network, "doctor_a", cid, "messages", {"text": "Đã gửi."}), 201)
    assert await _statuses(network, cid) == ("active", "in-progress", "accepted")
    opinion = {"assessment": "a", "recommendations": "r", "disposition": "admit"}
    await _ok(await act(network, "specialist", cid, "opinion", opinion))
    assert await _statuses(network, cid) == ("completed", "completed", "answered")

    declined = (await file_consult(network))["id"]
    await _ok(await act(network, "specialist", declined, "decline", {"reason": "Sai chuyên khoa"}))
    assert await _statuses(network, declined) == ("revoked", "rejected", "declined")
    task = await _read(network, f"Task/{declined}", Task)
    assert task.statusReason.text == "Sai chuyên khoa"

    cancelled = (await file_consult(network))["id"]
    await _ok(await act(network, "specialist", cancelled, "accept"))
    await _ok(await act(network, "doctor_a", cancelled, "cancel", {"reason": "Đã chuyển viện"}))
    assert await _statuses(network, cancelled) == ("revoked", "cancelled", "cancelled")
    task = await _read(network, f"Task/{cancelled}", Task)
    assert task.statusReason.text == "Đã chuyển viện"
    assert task.executionPeriod.end is not None


@pytest.mark.parametrize("status", list(ConsultStatus))
def test_every_consult_status_has_a_fhir_status(status: ConsultStatus) -> None:
    assert systems.SERVICE_REQUEST_STATUS[status] in {"draft", "active", "completed", "revoked"}
    assert systems.TASK_STATUS[status] in {
        "draft",
        "requested",
        "accepted",
        "on-hold",
        "completed",
        "rejected",
        "cancelled",
    }


def test_every_urgency_has_a_priority() -> None:
    assert {u: systems.PRIORITY[u] for u in Urgency} == {
        Urgency.ROUTINE: "routine",
        Urgency.URGENT: "urgent",
        Urgency.EMERGENCY: "stat",
    }


async def test_reads_and_exports_are_audited(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    await _get(network, f"ServiceRequest/{cid}", "specialist")
    await _get(network, f"Task/{cid}")
    await _get(network, f"ServiceRequest/{cid}/$everything")
    async with UnitOfWork(network.client.app[keys.SESSIONMAKER]) as uow:
        rows = (
            await uow.session.execute(
                select(AuditEvent.actor_id, AuditEvent.action, AuditEvent.details)
                .where(AuditEvent.action.in_(["consult.read", "patient.read"]))
                .order_by(AuditEvent.at)
            )
        ).all()
    doctor, specialist = network.users["doctor_a"], network.users["specialist"]
    assert [tuple(r) for r in rows] == [
        (specialist, "consult.read", {"via": "fhir", "resource": f"ServiceRequest/{cid}"}),
        (doctor, "consult.read", {"via": "fhir", "resource": f"Task/{cid}"}),
        (
            doctor,
            "consult.read",
            {"via": "fhir", "resource": f"ServiceRequest/{cid}/$everything"},
        ),
        (doctor, "patient.read", {"via": "fhir", "consult": cid}),
    ]


async def test_searches_return_only_consults_the_caller_takes_part_in(network: Network) -> None:
    patient = network.patients["patient_a"]
    first = (await file_consult(network))["id"]
    second = (await file_consult(network, specialty="dermatology"))["id"]
    draft = (await file_consult(network, draft=True))["id"]
    await _ok(await act(network, "doctor_a", first, "messages", {"text": "Một"}), 201)
    await _ok(await act(network, "specialist", first, "messages", {"text": "Hai"}), 201)

    async def found(query: str, who: str) -> tuple[list[str], int]:
        bundle = Bundle.model_validate(await _get(network, query, who))
        assert bundle.type == "searchset"
        assert all(e.search.mode == "match" for e in bundle.entry or [])
        return [e.resource.id for e in bundle.entry or []], bundle.total

    assert await found(f"ServiceRequest?patient={patient}", "doctor_a") == (
        [draft, second, first],
        3,
    )
    assert await found(f"ServiceRequest?subject=Patient/{patient}&_count=1", "doctor_a") == (
        [draft],
        3,
    )
    assert await found(f"ServiceRequest?patient=Patient/{patient}", "specialist") == ([first], 1)
    for stranger in ("doctor_b", "admin", "coordinator_a", "patient_self"):
        assert await found(f"ServiceRequest?patient={patient}", stranger) == ([], 0)
    assert await found(f"ServiceRequest?patient={MISSING}", "doctor_a") == ([], 0)

    messages, total = await found(f"Communication?based-on=ServiceRequest/{first}", "specialist")
    assert (len(messages), total) == (2, 2)
    texts = [
        (await _read(network, f"Communication/{m}", Communication)).payload[0].contentString
        for m in messages
    ]
    assert texts == ["Một", "Hai"]
    assert await found(f"Communication?based-on={first}&_count=1", "doctor_a") == (
        messages[:1],
        2,
    )
    for stranger in ("doctor_b", "admin", "trainer"):
        assert await found(f"Communication?based-on={first}", stranger) == ([], 0)
    assert await found(f"Communication?based-on={MISSING}", "doctor_a") == ([], 0)


@pytest.mark.parametrize(
    "query",
    [
        "ServiceRequest",
        "ServiceRequest?patient=a&subject=Patient/a",
        "ServiceRequest?patient=Practitioner/a",
        "ServiceRequest?patient=a&_count=0",
        "ServiceRequest?patient=a&_count=501",
        "ServiceRequest?patient=a&status=active",
        "Communication",
        "Communication?based-on=Task/x",
        "Communication?based-on=a/b/c",
    ],
)
async def test_a_malformed_search_is_a_validation_error(network: Network, query: str) -> None:
    resp = await network.client.get(f"/fhir/{query}", headers=await network.headers("doctor_a"))
    assert resp.status == 400, await resp.text()
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["code"] == "validation_error"


async def test_unknown_and_malformed_ids_are_404s(network: Network) -> None:
    for path in (
        f"ServiceRequest/{MISSING}",
        f"Task/{MISSING}",
        f"Communication/{MISSING}",
        f"DocumentReference/{MISSING}",
        f"Composition/{MISSING}",
        f"ServiceRequest/{MISSING}/$everything",
        "Task/has_underscore",
        f"Composition/{'x' * 65}",
    ):
        resp = await network.client.get(f"/fhir/{path}", headers=await network.headers("doctor_a"))
        assert resp.status == 404, path
        assert (await resp.json(content_type=None))["code"] == "not_found"


async def test_the_capability_statement_offers_the_consult_resources(network: Network) -> None:
    resp = await network.client.get("/fhir/metadata")
    statement = CapabilityStatement.model_validate(await resp.json(content_type=None))
    served = {r.type: r for r in statement.rest[0].resource}
    for name in ("Task", "DocumentReference", "Composition"):
        assert [i.code for i in served[name].interaction] == ["read"], name
    for name in ("ServiceRequest", "Communication"):
        assert [i.code for i in served[name].interaction] == ["read", "search-type"], name
    assert {p.name for p in served["ServiceRequest"].searchParam} == {"patient", "subject"}
    assert {p.name for p in served["Communication"].searchParam} == {"based-on"}
    assert [o.name for o in served["ServiceRequest"].operation] == ["everything"]
