"""Consult pages as a browser uses them: file, triage, ask, answer, sign, attach, refuse."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse

from telehealth import keys
from telehealth.accounts import schemas as accounts_schemas
from telehealth.accounts.models import Role
from tests.support.consults import act, add_specialist, file_consult
from tests.support.files import dicom, png
from tests.support.network import PASSWORD, SEED, Network
from tests.support.pages import (
    INLINE_SCRIPT_RE,
    STYLE_RE,
    browse_as,
    csrf_of,
    page,
    submit,
    submitted,
    with_every_token,
)

QUESTION = "Có cần chuyển tuyến chụp mạch vành không?"
HISTORY = "Đau ngực trái 2 ngày, tăng khi gắng sức."
CASE = {
    "specialty": "cardiology",
    "urgency": "urgent",
    "question": QUESTION,
    "history": HISTORY,
    "examination": "Tim đều, không âm thổi.",
    "heart_rate": "96",
    "systolic_bp": "150",
    "diastolic_bp": "95",
    "temperature_c": "37,5",
    "respiratory_rate": "20",
    "spo2": "97",
    "weight_kg": "58",
    "current_treatment": "Aspirin 81 mg",
    "allergies": "Không",
    "patient_present": "1",
}
OPINION = {
    "assessment": "Nghi cơn đau thắt ngực không ổn định.",
    "recommendations": "Làm điện tâm đồ và troponin.",
    "recommended_tests": "Điện tâm đồ, troponin",
    "disposition": "manage_locally",
    "sign": "1",
}


@pytest.fixture
async def network(network: Network) -> Network:
    """The shared network, with every API token fetched first."""
    return await with_every_token(network)


async def consult_json(net: Network, cid: str, who: str = "doctor_a") -> Any:
    """The consult as the API shows it."""
    resp = await net.client.get(f"/api/v1/consults/{cid}", headers=await net.headers(who))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def kinds(net: Network, cid: str) -> list[str]:
    """The timeline kinds, as the API lists them."""
    resp = await net.client.get(
        f"/api/v1/consults/{cid}/timeline", headers=await net.headers("doctor_a")
    )
    return [e["kind"] for e in (await resp.json())["items"]]


def shown_kinds(html: str) -> list[str]:
    """The timeline kinds the consult page shows, in order."""
    return re.findall(r'data-kind="([a-z_]+)" data-event=', html)


async def upload_json(net: Network, cid: str, data: bytes, name: str) -> ClientResponse:
    """What uploads.js does: the JSON endpoint, the session cookie and the Origin header."""
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await net.client.post(
        f"/api/v1/consults/{cid}/attachments",
        data=form,
        headers={**net.origin, "Accept": "application/json"},
    )


async def upload_page(
    net: Network, cid: str, html: str, files: list[tuple[bytes, str]], token: str | None = None
) -> ClientResponse:
    """The upload form without JavaScript: token and `back` first, then the files."""
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf_of(html) if token is None else token)
    form.add_field("back", "consult")
    for data, name in files:
        form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await net.client.post(
        f"/consults/{cid}/attachments", data=form, headers=net.origin, allow_redirects=False
    )


# --- the whole flow ------------------------------------------------------------------------


async def test_the_whole_consult_flow_through_the_pages(network: Network) -> None:
    net = network
    await browse_as(net, "doctor_a")
    form = await page(net, f"/consults/new?patient_id={net.patients['patient_a']}")
    assert 'id="consult-form"' in form
    assert "Bệnh nhân patient_a" in form
    assert 'name="urgency" value="emergency"' in form

    location = await submitted(
        net,
        "/consults/new",
        form,
        {**CASE, "patient_id": net.patients["patient_a"], "patient_fixed": "1", "action": "draft"},
    )
    match = re.fullmatch(r"/consults/([0-9a-f-]+)/edit\?done=saved", location)
    assert match is not None, location
    cid = match.group(1)
    assert (await consult_json(net, cid))["status"] == "draft"

    draft = await page(net, location)
    assert 'id="done"' in draft
    assert QUESTION in draft
    assert HISTORY in draft
    assert 'id="f-temperature_c" name="temperature_c" type="text" inputmode="decimal"' in draft
    # The vital signs come back in the page language's decimal form, as they were typed.
    assert 'value="37,5"' in draft
    assert 'value="96"' in draft
    assert 'value="37.5"' in await page(net, location + "&lang=en")
    assert 'data-upload-url="/api/v1/consults/' + cid + '/attachments"' in draft

    location = await submitted(
        net, f"/consults/{cid}/edit", draft, {**CASE, "action": "submit", "spo2": "95"}
    )
    assert location == f"/consults/{cid}?done=submitted"
    body = await consult_json(net, cid)
    assert body["status"] == "submitted"
    assert body["urgency"] == "urgent"
    assert body["summary"]["vitals"] == {
        "heart_rate": 96,
        "systolic_bp": 150,
        "diastolic_bp": 95,
        "temperature_c": 37.5,
        "respiratory_rate": 20,
        "spo2": 95,
        "weight_kg": 58.0,
        "blood_glucose_mmol": None,
    }
    shown = await page(net, location)
    assert 'data-done="submitted"' in shown
    assert 'data-status="submitted"' in shown
    assert 'id="consult-due"' in shown
    assert "data-remaining" in shown
    assert 'id="cancel-form"' in shown
    assert 'id="amend-link"' in shown
    assert 'id="accept-form"' not in shown

    # The specialist accepts and asks for more.
    await browse_as(net, "specialist")
    queue_view = await page(net, f"/consults/{cid}")
    assert QUESTION in queue_view
    assert 'id="accept-form"' in queue_view
    assert 'id="decline-form"' in queue_view
    assert 'id="opinion-link"' not in queue_view
    location = await submitted(net, f"/consults/{cid}/accept", queue_view, {})
    assert location == f"/consults/{cid}?done=accepted"
    accepted = await page(net, location)
    assert 'id="info-form"' in accepted
    assert 'id="opinion-link"' in accepted
    assert "Specialist" in accepted  # the assignee is named in the header
    await submitted(
        net,
        f"/consults/{cid}/request-info",
        accepted,
        {"info_question": "Xin kết quả điện tâm đồ lúc nhập viện."},
    )
    assert (await consult_json(net, cid))["status"] == "info_requested"

    # The requester sees the question and answers by message.
    await browse_as(net, "doctor_a")
    waiting = await page(net, f"/consults/{cid}")
    assert 'id="info-request"' in waiting
    assert "Xin kết quả điện tâm đồ lúc nhập viện." in waiting
    location = await submitted(
        net, f"/consults/{cid}/messages", waiting, {"text": "ECG: ST chênh xuống V4-V6."}
    )
    assert location == f"/consults/{cid}?done=message#timeline"
    assert (await consult_json(net, cid))["status"] == "accepted"

    # The specialist signs an opinion, then an amended one with a reason.
    await browse_as(net, "specialist")
    blank = await page(net, f"/consults/{cid}/opinion")
    assert 'id="opinion-form"' in blank
    assert 'id="signature"' in blank
    assert 'id="signer">Specialist<' in blank
    assert 'name="amendment_reason"' not in blank
    location = await submitted(net, f"/consults/{cid}/opinion", blank, OPINION)
    assert location == f"/consults/{cid}?done=signed#opinions"
    first = (await consult_json(net, cid))["opinion"]
    assert first["version"] == 1

    again = await page(net, f"/consults/{cid}/opinion")
    assert 'id="amending"' in again
    assert OPINION["assessment"] in again  # pre-filled from the latest version
    transfer = {
        **OPINION,
        "disposition": "transfer",
        "transfer_facility_id": net.facilities["C0"],
        "amendment_reason": "Troponin tăng",
    }
    await submitted(net, f"/consults/{cid}/opinion", again, transfer)
    second = (await consult_json(net, cid))["opinion"]
    assert second["version"] == 2
    assert second["amendment_reason"] == "Troponin tăng"

    # Everyone taking part sees the timeline and both signed versions.
    await browse_as(net, "doctor_a")
    final = await page(net, f"/consults/{cid}")
    assert shown_kinds(final) == await kinds(net, cid)
    assert shown_kinds(final) == [
        "created",
        "submitted",
        "accepted",
        "info_requested",
        "message",
        "info_provided",
        "opinion_signed",
        "opinion_signed",
    ]
    assert 'data-opinion="2"' in final
    assert 'data-opinion="1"' in final
    assert final.index('data-opinion="2"') < final.index('data-opinion="1"')
    assert second["content_hash"] in final
    assert first["content_hash"] in final
    assert "Troponin tăng" in final
    assert 'data-disposition="transfer"' in final
    assert "Bệnh viện Trung ương" in final
    assert not INLINE_SCRIPT_RE.search(final)
    assert not STYLE_RE.search(final)
    assert "innerHTML" not in final


async def test_the_requester_amends_with_a_reason_and_the_history_shows_it(
    network: Network,
) -> None:
    cid = (await file_consult(network))["id"]
    await browse_as(network, "doctor_a")
    form = await page(network, f"/consults/{cid}/amend")
    assert 'id="amend-submit"' in form
    assert "Tim đều, không âm thổi." in form  # the current values, to change
    values = {
        "question": "Có cần chụp mạch vành không?",
        "urgency": "routine",
        "history": "Đau ngực 2 ngày; ECG: ST chênh xuống V4-V6.",
        "heart_rate": "96",
        "systolic_bp": "150",
        "diastolic_bp": "95",
        "spo2": "97",
        "examination": "Tim đều, không âm thổi.",
        "current_treatment": "Aspirin 81 mg",
        "allergies": "Không",
    }
    unchanged = await submit(
        network,
        f"/consults/{cid}/amend",
        form,
        {**values, "question": "Có cần chuyển tuyến chụp mạch vành không?", "history": HISTORY},
    )
    assert unchanged.status == 400
    assert 'id="f-note-error"' in await unchanged.text()  # a reason is needed too

    location = await submitted(
        network, f"/consults/{cid}/amend", form, {**values, "note": "Bổ sung điện tâm đồ"}
    )
    assert location == f"/consults/{cid}?done=amended"
    body = await consult_json(network, cid)
    assert body["version"] == 2
    assert body["question"] == "Có cần chụp mạch vành không?"
    assert body["summary"]["history"].startswith("Đau ngực 2 ngày; ECG")
    shown = await page(network, location)
    assert 'id="amendments"' in shown
    assert 'data-version="2"' in shown
    assert "Bổ sung điện tâm đồ" in shown
    # What the amendment replaced is shown beside what it wrote, field by field.
    changed = re.findall(r'<tr data-field="([a-z_]+)">', shown)
    assert changed == ["question", "history"]
    question_row = shown.split('<tr data-field="question">')[1].split("</tr>")[0]
    assert "Có cần chuyển tuyến chụp mạch vành không?" in question_row  # before
    assert "Có cần chụp mạch vành không?" in question_row  # after


async def test_nothing_changed_is_not_an_amendment(network: Network) -> None:
    cid = (await file_consult(network, urgency="urgent"))["id"]
    await browse_as(network, "doctor_a")
    form = await page(network, f"/consults/{cid}/amend")
    same = {  # what tests.support.consults filed, as the form shows it
        "question": QUESTION,
        "urgency": "urgent",
        "history": HISTORY,
        "examination": "Tim đều, không âm thổi.",
        "heart_rate": "96",
        "systolic_bp": "150",
        "diastolic_bp": "95",
        "spo2": "97",
        "current_treatment": "Aspirin 81 mg",
        "allergies": "Không",
        "note": "Không đổi gì",
    }
    resp = await submit(network, f"/consults/{cid}/amend", form, same)
    assert resp.status == 400, await resp.text()
    assert (await consult_json(network, cid))["version"] == 1


# --- form errors ----------------------------------------------------------------------------


async def test_form_errors_are_shown_next_to_fields_with_the_values_kept(
    network: Network,
) -> None:
    await browse_as(network, "doctor_a")
    form = await page(network, "/consults/new")
    assert f'<option value="{network.patients["patient_a"]}"' in form
    assert network.patients["patient_b"] not in form  # another facility's patient
    bad = {
        **CASE,
        "patient_id": network.patients["patient_a"],
        "question": " ",
        "heart_rate": "nhanh",
        "systolic_bp": "500",
        "action": "submit",
    }
    resp = await submit(network, "/consults/new", form, bad)
    text = await resp.text()
    assert resp.status == 400
    for name in ("question", "heart_rate"):
        assert f'id="f-{name}-error"' in text
    assert 'id="f-bp-error"' in text
    assert 'aria-invalid="true"' in text
    assert HISTORY in text
    assert 'value="nhanh"' in text
    assert 'value="500"' in text
    assert f'<option value="{network.patients["patient_a"]}" selected>' in text
    assert '<option value="cardiology" selected>' in text
    mine = await network.client.get("/api/v1/consults", headers=await network.headers("doctor_a"))
    assert (await mine.json())["items"] == []

    # Another facility's patient is refused on the form, not with an error page.
    other = await submit(
        network, "/consults/new", form, {**CASE, "patient_id": network.patients["patient_b"]}
    )
    assert other.status == 400
    assert 'id="f-patient_id-error"' in await other.text()


async def test_action_errors_are_shown_on_the_consult_page(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    await browse_as(network, "specialist")
    shown = await page(network, f"/consults/{cid}")
    resp = await submit(network, f"/consults/{cid}/decline", shown, {"decline_reason": ""})
    assert resp.status == 400
    assert 'id="f-decline_reason-error"' in await resp.text()
    assert (await consult_json(network, cid))["status"] == "submitted"

    # Asking for information needs the consult accepted first: the state refuses it.
    resp = await submit(network, f"/consults/{cid}/request-info", shown, {"info_question": "?"})
    assert resp.status == 403
    await submitted(network, f"/consults/{cid}/accept", shown, {})
    resp = await submit(network, f"/consults/{cid}/schedule", shown, {"start": "2001-01-01T08:00"})
    assert resp.status == 400
    assert 'id="f-start-error"' in await resp.text()
    resp = await submit(network, f"/consults/{cid}/schedule", shown, {"start": "sáng mai"})
    assert resp.status == 400

    blank = await page(network, f"/consults/{cid}/opinion")
    resp = await submit(
        network,
        f"/consults/{cid}/opinion",
        blank,
        {**OPINION, "disposition": "transfer", "sign": "", "assessment": "Ổn định"},
    )
    text = await resp.text()
    assert resp.status == 400
    assert 'id="f-sign-error"' in text
    assert "Ổn định" in text
    assert "f-transfer_facility_id-error" in text
    assert (await consult_json(network, cid))["opinion"] is None


async def test_specialist_schedules_adds_and_hands_over(network: Network) -> None:
    colleague = await add_specialist(network, "specialist_two", "C0", ["cardiology"])
    cid = (await file_consult(network))["id"]
    await browse_as(network, "specialist")
    shown = await page(network, f"/consults/{cid}")
    await submitted(network, f"/consults/{cid}/accept", shown, {})
    accepted = await page(network, f"/consults/{cid}")
    assert f'<option value="{colleague}">' in accepted
    await submitted(network, f"/consults/{cid}/schedule", accepted, {"start": "2099-03-01T09:30"})
    body = await consult_json(network, cid)
    assert body["session_at"].startswith("2099-03-01T02:30")  # 09:30 in Vietnam
    location = await submitted(
        network, f"/consults/{cid}/assign", accepted, {"practitioner_id": colleague, "mode": "add"}
    )
    assert location == f"/consults/{cid}?done=assigned"
    both = await page(network, location)
    assert "Specialist_Two" in both
    assert 'id="consult-session"' in both
    location = await submitted(
        network,
        f"/consults/{cid}/assign",
        both,
        {"practitioner_id": colleague, "mode": "reassign"},
    )
    assert location == "/consults"
    assignees = (await consult_json(network, cid))["assignees"]
    assert [a["practitioner_id"] for a in assignees] == [colleague]


async def test_a_draft_is_submitted_or_discarded_from_the_pages(network: Network) -> None:
    await browse_as(network, "doctor_a")
    form = await page(network, f"/consults/new?patient_id={network.patients['patient_a']}")
    fields = {**CASE, "patient_id": network.patients["patient_a"], "action": "draft"}
    first = (await submitted(network, "/consults/new", form, fields)).split("/")[2]
    second = (await submitted(network, "/consults/new", form, fields)).split("/")[2]
    shown = await page(network, f"/consults/{first}")
    assert 'id="submit-form"' in shown
    assert 'id="edit-link"' in shown
    await submitted(network, f"/consults/{first}/submit", shown, {})
    assert (await consult_json(network, first))["status"] == "submitted"
    # A submitted request is no longer edited as a draft.
    resp = await network.client.get(f"/consults/{first}/edit", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == f"/consults/{first}"
    draft = await page(network, f"/consults/{second}/edit")
    await submitted(network, f"/consults/{second}/cancel", draft, {"cancel_reason": "Trùng"})
    assert (await consult_json(network, second))["status"] == "cancelled"


# --- attachments ----------------------------------------------------------------------------


async def test_attachments_upload_list_and_viewer(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    await browse_as(network, "doctor_a")
    shown = await page(network, f"/consults/{cid}")
    assert 'id="upload-form"' in shown
    assert "data-upload-input" in shown
    assert "data-upload-queue" in shown
    assert "data-attachment-list" in shown
    assert 'enctype="multipart/form-data"' in shown
    assert "js/uploads.js" in shown

    resp = await upload_json(network, cid, png(), "Ảnh ngực.png")
    assert resp.status == 201, await resp.text()
    image = await resp.json()
    refused = await upload_json(network, cid, b"just some text", "ghi chú.txt")
    assert refused.status == 415
    assert refused.content_type == "application/problem+json"
    # uploads.js shows the page's own words for the code, never the English detail.
    assert (await refused.json())["code"] == "unsupported_media_type"
    assert "data-refused-unsupported-media-type=" in shown

    with_file = await page(network, f"/consults/{cid}")
    assert f'data-attachment="{image["id"]}"' in with_file
    assert f'src="{image["thumbnail_url"]}"' in with_file  # never the original in the list
    assert "attachment_added" in shown_kinds(with_file)

    # Without JavaScript: the same form posts to the page route, which forwards each file.
    location = (await upload_page(network, cid, with_file, [(dicom(64, 64), "ct.dcm")])).headers[
        "Location"
    ]
    assert location == f"/consults/{cid}?done=uploaded#attachments"
    files = await (
        await network.client.get(
            f"/api/v1/consults/{cid}/attachments", headers=await network.headers("doctor_a")
        )
    ).json()
    assert [f["kind"] for f in files] == ["image", "dicom"]
    scan = files[1]
    viewer = await page(network, f"/consults/{cid}/attachments/{scan['id']}")
    assert 'data-viewer="dicom"' in viewer
    assert f'src="{scan["preview_url"]}"' in viewer
    assert 'data-meta="modality">CT<' in viewer
    assert 'data-meta="body_part">CHEST<' in viewer
    assert f'href="/consults/{cid}/attachments/{image["id"]}"' in viewer  # the previous file
    picture = await page(network, f"/consults/{cid}/attachments/{image['id']}")
    assert 'data-viewer="image"' in picture

    # A refused file shows the page again with the reason; nothing is added.
    bad = await upload_page(network, cid, with_file, [(b"MZ not a scan", "virus.exe")])
    assert bad.status == 415
    assert 'role="alert"' in await bad.text()
    forged = await upload_page(network, cid, with_file, [(png(), "x.png")], token="0" * 64)
    assert forged.status == 403
    # A browser sends an empty file part when no file was chosen.
    empty = await upload_page(network, cid, with_file, [(b"", "")])
    assert empty.status == 400
    assert 'role="alert"' in await empty.text()
    count = await network.client.get(
        f"/api/v1/consults/{cid}/attachments", headers=await network.headers("doctor_a")
    )
    assert len(await count.json()) == 2


# --- who sees what --------------------------------------------------------------------------


async def test_a_stranger_doctor_gets_404_on_every_consult_page(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    resp = await upload_json_as(network, "doctor_a", cid)
    attachment = (await resp.json())["id"]
    await act(network, "specialist", cid, "accept")
    await browse_as(network, "doctor_b")
    home = await page(network, "/")
    for path in (
        f"/consults/{cid}",
        f"/consults/{cid}/edit",
        f"/consults/{cid}/amend",
        f"/consults/{cid}/opinion",
        f"/consults/{cid}/attachments/{attachment}",
    ):
        assert "Không tìm thấy" in await page(network, path, status=404), path
    for action, data in [
        ("accept", {}),
        ("decline", {"decline_reason": "x"}),
        ("cancel", {"cancel_reason": "x"}),
        ("messages", {"text": "x"}),
        ("request-info", {"info_question": "x"}),
        ("submit", {}),
        ("edit", CASE),
        ("amend", {**CASE, "note": "x"}),
        ("opinion", OPINION),
        ("schedule", {"start": "2099-01-01T08:00"}),
    ]:
        resp = await submit(network, f"/consults/{cid}/{action}", home, data)
        assert resp.status == 404, (action, resp.status)
    resp = await upload_page(network, cid, home, [(png(), "x.png")])
    assert resp.status == 404
    body = await consult_json(network, cid)
    assert body["status"] == "accepted"
    assert body["version"] == 1


async def upload_json_as(net: Network, who: str, cid: str) -> ClientResponse:
    """Attach a PNG through the API with a bearer token."""
    form = aiohttp.FormData()
    form.add_field("file", png(), filename="x.png", content_type="image/png")
    resp = await net.client.post(
        f"/api/v1/consults/{cid}/attachments", data=form, headers=await net.headers(who)
    )
    assert resp.status == 201, await resp.text()
    return resp


async def test_an_admin_sees_the_metadata_but_no_clinical_content(network: Network) -> None:
    cid = (await file_consult(network))["id"]
    attachment = (await (await upload_json_as(network, "doctor_a", cid)).json())["id"]
    await browse_as(network, "admin")
    shown = await page(network, f"/consults/{cid}")
    assert 'id="metadata-only"' in shown
    assert "Doctor A" in shown
    assert "Bệnh viện huyện Mường Tè" in shown
    for clinical in (QUESTION, "Bệnh nhân patient_a", "Aspirin", 'id="timeline"', "x.png"):
        assert clinical not in shown, clinical
    assert 'id="actions"' not in shown
    assert 'id="message-form"' not in shown
    await page(network, f"/consults/{cid}/attachments/{attachment}", status=404)
    await page(network, f"/consults/{cid}/opinion", status=404)
    await page(network, f"/consults/{cid}/amend", status=404)


async def test_a_colleague_of_the_requester_reads_but_cannot_change(network: Network) -> None:
    """Doctors of the requesting facility are the care team: they read and write messages,
    but only the requester amends; drafts stay the requester's own."""
    accounts = network.client.app[keys.ACCOUNTS]
    await accounts.create_user(
        SEED,
        accounts_schemas.UserCreate(
            username="doctor_a2",
            password=PASSWORD,
            full_name="Bác sĩ Cùng Viện",
            roles=[Role.DOCTOR],
            facility_id=network.facilities["D1"],
        ),
    )
    cid = (await file_consult(network))["id"]
    draft = (await file_consult(network, draft=True))["id"]
    await browse_as(network, "doctor_a2")
    shown = await page(network, f"/consults/{cid}")
    assert QUESTION in shown
    assert 'id="message-form"' in shown
    assert 'id="amend-link"' not in shown
    assert 'id="cancel-form"' not in shown
    await page(network, f"/consults/{cid}/amend", status=403)
    await page(network, f"/consults/{draft}", status=404)
    await page(network, f"/consults/{draft}/edit", status=404)


@pytest.mark.parametrize(
    "path",
    [
        "/consults/not%20an%20id",
        "/consults/00000000-0000-0000-0000-000000000000",
        "/consults/x/edit",
    ],
)
async def test_unknown_consults_are_404_pages(network: Network, path: str) -> None:
    await browse_as(network, "specialist")
    await page(network, path, status=404)


async def test_only_doctors_file_requests(network: Network) -> None:
    await browse_as(network, "specialist")
    await page(network, "/consults/new", status=403)
    await browse_as(network, "patient_self")
    await page(network, "/consults/new", status=403)


async def test_the_printable_record_holds_the_request_and_the_signed_opinion(
    network: Network,
) -> None:
    cid = (await file_consult(network))["id"]
    await act(network, "specialist", cid, "accept")
    api_opinion = {k: v for k, v in OPINION.items() if k != "sign"}
    signed = await act(network, "specialist", cid, "opinion", api_opinion)
    content_hash = (await signed.json())["opinion"]["content_hash"]
    await browse_as(network, "doctor_a")
    shown = await page(network, f"/consults/{cid}")
    assert f'href="/consults/{cid}/print" id="print-link"' in shown
    record = await page(network, f"/consults/{cid}/print?lang=en")
    assert f"<strong data-ref>{cid[:8].upper()}</strong>" in record
    assert "Bệnh nhân patient_a" in record
    assert "Có cần chuyển tuyến chụp mạch vành không?" in record
    assert OPINION["assessment"] in record
    assert f'<code class="hash" data-hash>{content_hash}</code>' in record
    assert 'src="/static/js/print.js' in record
    assert INLINE_SCRIPT_RE.search(record) is None  # the print button is wired by a module
    # Its readers are the consult's: a stranger gets 404, an admin (metadata only) too.
    for who in ("doctor_b", "admin"):
        await browse_as(network, who)
        await page(network, f"/consults/{cid}/print", status=404)
