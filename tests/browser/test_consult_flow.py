"""Specialist consults in the browser: a district doctor files a request with a photo and a
DICOM image, a cardiologist takes it from the queue, asks for information, signs an opinion
and amends it; uploads survive a dropped connection; the queue's countdown turns overdue."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import FilePayload, Locator, Page, Route, expect

from tests.support import files
from tests.support.browser import Browsing, LiveServer, sign_in
from tests.support.consults import CASE

pytestmark = pytest.mark.asyncio(loop_scope="session")

PATIENT = "Bệnh nhân patient_a"
QUESTION = "Có cần chuyển tuyến chụp mạch vành không?"
INFO_QUESTION = "Men tim troponin lúc vào viện là bao nhiêu?"
INFO_ANSWER = "Troponin I 0,8 ng/mL lúc 8 giờ sáng nay."
ASSESSMENT = "Nhồi máu cơ tim không ST chênh lên, nguy cơ trung bình."
FIRST_ADVICE = "Aspirin, clopidogrel, statin liều cao; theo dõi điện tim."
AMENDED_ADVICE = "Chuyển tuyến trung ương chụp mạch vành trong 24 giờ."
AMEND_REASON = "Troponin tăng gấp đôi sau 3 giờ."
# Each upload row's states in order, as uploads.js sets them on `data-state`.
RECORD_STATES = """() => {
  window.uploadStates = {};
  const note = (row) => {
    if (!row.dataset || !row.dataset.uploadItem) return;
    const seen = (window.uploadStates[row.dataset.uploadItem] ||= []);
    if (seen[seen.length - 1] !== row.dataset.state) seen.push(row.dataset.state);
  };
  new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === "attributes") note(change.target);
      for (const node of change.addedNodes) note(node);
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ["data-state"]});
}"""
IMAGE_LOADED = "img => img.complete && img.naturalWidth > 0"


async def test_a_consult_from_draft_with_files_to_an_amended_opinion(browsing: Browsing) -> None:
    doctor = await browsing.page(locale="vi-VN")
    await sign_in(doctor, "doctor_a")
    consult_id = await file_draft_with_files(doctor)
    await doctor.locator("#submit-consult").click()
    await expect_done(doctor, "submitted")
    await expect(doctor.locator("h1 [data-status]")).to_have_attribute("data-status", "submitted")

    specialist = await browsing.page(locale="en-US")
    await sign_in(specialist, "specialist")
    await specialist.goto("/consults?view=queue")
    row = specialist.locator(f"#consult-{consult_id}")
    await expect(row).to_have_attribute("data-overdue", "false")
    await expect(row.locator("time[data-due]")).to_have_text(re.compile(r"^23 h \d+ min left$"))
    await row.locator("[data-consult-link]").click()
    await expect(specialist.locator("#consult-question")).to_have_text(QUESTION)
    await expect_previews_load(specialist)

    await specialist.locator("#accept-form button[type=submit]").click()
    await expect_done(specialist, "accepted")
    await expect(specialist.locator("#consult-assignees")).to_contain_text("Specialist")
    await specialist.locator("#f-info_question").fill(INFO_QUESTION)
    await specialist.locator("#info-form button[type=submit]").click()
    await expect_done(specialist, "info_requested")

    await doctor.goto(f"/consults/{consult_id}")
    await expect(doctor.locator("#info-request")).to_contain_text(INFO_QUESTION)
    await doctor.locator("#message-form #f-text").fill(INFO_ANSWER)
    await doctor.locator("#message-form button[type=submit]").click()
    await expect_done(doctor, "message")
    await expect(doctor.locator("li.event[data-kind=message]").last).to_contain_text(INFO_ANSWER)
    await expect(doctor.locator("h1 [data-status]")).to_have_attribute("data-status", "accepted")

    await specialist.goto(f"/consults/{consult_id}")
    await expect(specialist.locator("li.event[data-kind=message]").last).to_contain_text(
        INFO_ANSWER
    )
    await sign_opinion(specialist, FIRST_ADVICE)
    await expect(specialist.locator("#opinions article.current")).to_have_attribute(
        "data-opinion", "1"
    )
    await sign_opinion(specialist, AMENDED_ADVICE, amend_reason=AMEND_REASON)
    current = specialist.locator("#opinions article.current")
    await expect(current).to_have_attribute("data-opinion", "2")

    await doctor.goto(f"/consults/{consult_id}")
    await expect(doctor.locator("h1 [data-status]")).to_have_attribute("data-status", "answered")
    current = doctor.locator("#opinions article.current")
    await expect(current).to_have_attribute("data-opinion", "2")
    for text in (AMENDED_ADVICE, AMEND_REASON, ASSESSMENT):
        await expect(current).to_contain_text(text)
    await expect(current.locator("[data-hash]")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    earlier = doctor.locator("#opinions details.older article[data-opinion='1']")
    await expect(earlier).to_contain_text(FIRST_ADVICE)
    await expect_dicom_viewer(doctor)

    # The record for the paper chart: the current opinion, a print button the script shows.
    await doctor.goto(f"/consults/{consult_id}")
    await doctor.locator("#print-link").click()
    await expect(doctor.locator("#record-opinion")).to_have_attribute("data-opinion", "2")
    await expect(doctor.locator("#record-opinion")).to_contain_text(AMENDED_ADVICE)
    await expect(doctor.locator("button[data-print]")).to_be_visible()

    await specialist.goto("/consults/dashboard")
    await expect(specialist.locator("#figures-table")).to_contain_text("Cardiology")

    stranger = await browsing.page(locale="en-US")  # a doctor of another district
    await sign_in(stranger, "doctor_b")
    browsing.watch.expect_failure(f"/consults/{consult_id}")
    response = await stranger.goto(f"/consults/{consult_id}")
    assert response is not None
    assert response.status == 404
    await expect(stranger.locator("body")).not_to_contain_text(QUESTION)


async def test_an_upload_cut_off_by_the_network_is_sent_again_with_retry(
    browsing: Browsing,
) -> None:
    consult = await file_via_api(browsing.server, draft=True)
    uploads = f"/api/v1/consults/{consult['id']}/attachments"
    attempts: list[str] = []

    async def drop_the_first(route: Route) -> None:
        attempts.append(route.request.method)
        if len(attempts) == 1:
            await route.abort("connectionreset")
        else:
            await route.continue_()

    browsing.watch.expect_failure(uploads)  # the first attempt, cut off on purpose
    doctor = await browsing.page(locale="vi-VN")
    await sign_in(doctor, "doctor_a")
    await doctor.route(f"**{uploads}", drop_the_first)
    await doctor.goto(f"/consults/{consult['id']}/edit")
    await expect(doctor.locator("#no-attachments")).to_be_visible()

    await doctor.locator("#f-file").set_input_files([payload("ket-qua-xet-nghiem.png")])
    row = doctor.locator("#upload-queue li.upload")
    await expect(row).to_have_attribute("data-state", "failed")
    retry = row.locator("[data-retry]")
    await expect(retry).to_be_visible()
    await expect(doctor.locator("#attachment-list li.attachment")).to_have_count(0)

    await retry.click()
    await expect(row).to_have_attribute("data-state", "done")
    await expect(retry).to_be_hidden()
    assert await row.locator("progress").evaluate("p => p.max > 0 && p.value === p.max")
    await expect(doctor.locator("#attachment-list li.attachment")).to_have_count(1)
    assert attempts == ["POST", "POST"]

    await doctor.reload()
    listed = doctor.locator("#attachment-list li.attachment")
    await expect(listed).to_have_count(1)  # the cut-off attempt never reached the server
    await expect(listed).to_contain_text("ket-qua-xet-nghiem.png")
    await expect_previews_load(doctor)


async def test_the_queue_countdown_turns_overdue_when_the_deadline_passes(
    browsing: Browsing,
) -> None:
    consult = await file_via_api(browsing.server, urgency="emergency")
    specialist = await browsing.page(locale="en-US")
    await specialist.clock.install()
    await sign_in(specialist, "specialist")
    await specialist.goto("/consults?view=queue")
    row = specialist.locator(f"#consult-{consult['id']}")
    countdown = row.locator("time[data-due]")
    await expect(countdown).to_have_text(re.compile(r"^\d+ min( \d+ s)? left$"))
    await expect(row.locator("[data-overdue-badge]")).to_be_hidden()

    await specialist.clock.fast_forward("01:00:05")
    await expect(row).to_have_attribute("data-overdue", "true")
    await expect(row.locator("[data-overdue-badge]")).to_be_visible()
    await expect(countdown).to_have_text(re.compile(r"^overdue by (\d+ min )?\d+ s$"))
    await expect(specialist.locator("#consult-live")).to_contain_text(PATIENT)


async def file_draft_with_files(page: Page) -> str:
    """Fill in the request form, save it as a draft, attach a photo and a CT image; returns
    the consult id."""
    await page.goto("/consults")
    await page.locator("#consult-new-link").click()
    await page.locator("#f-patient_id").select_option(label=PATIENT)
    await page.locator("#f-specialty").select_option("cardiology")
    await page.locator("input[name=urgency][value=urgent]").check()
    await page.locator("#f-question").fill(QUESTION)
    await page.locator("#f-history").fill(str(CASE["history"]))
    await page.locator("#f-examination").fill(str(CASE["examination"]))
    await page.locator("#f-systolic_bp").fill("150")
    await page.locator("#f-diastolic_bp").fill("95")
    await page.locator("#f-heart_rate").fill("96")
    await page.locator("#save-draft").click()
    await expect(page).to_have_url(re.compile(r"/consults/[0-9a-f-]+/edit\?done=saved$"))
    consult_id = page.url.split("/consults/")[1].split("/")[0]

    # With JavaScript a file is sent as soon as it is chosen: no "send" button.
    await expect(page.locator("[data-upload-submit]")).to_be_hidden()
    await page.evaluate(RECORD_STATES)
    await page.locator("#f-file").set_input_files([payload("dien-tim.png"), payload("ct.dcm")])
    for name in ("dien-tim.png", "ct.dcm"):
        row = page.locator(f"#upload-queue li.upload[data-upload-item='{name}']")
        await expect(row).to_have_attribute("data-state", "done")
        assert await row.locator("progress").evaluate("p => p.max > 0 && p.value === p.max")
        await expect(row.locator("[data-retry]")).to_be_hidden()
    states = await page.evaluate("() => window.uploadStates")
    assert states == {name: ["waiting", "sending", "done"] for name in ("dien-tim.png", "ct.dcm")}
    listed = page.locator("#attachment-list li.attachment")
    await expect(listed).to_have_count(2)
    await expect(page.locator("#attachment-list li.attachment[data-kind=dicom]")).to_contain_text(
        "ct.dcm"
    )
    await expect_previews_load(page)
    return consult_id


async def expect_previews_load(page: Page) -> None:
    """Every thumbnail of the attachment list (the photo, the DICOM's PNG preview) is a
    decoded image, not a broken one."""
    images = page.locator("#attachment-list li.attachment img")
    await expect(images.first).to_be_visible()
    dicom = page.locator("#attachment-list li.attachment[data-kind=dicom] img")
    for image in await images.all():
        await wait_until_loaded(page, image)
    if await dicom.count():
        width = await dicom.first.evaluate("img => img.naturalWidth")
        assert width > 0, "the DICOM preview did not decode"


async def expect_dicom_viewer(page: Page) -> None:
    """From the consult page, the CT image's own page: its preview drawn at the image's
    proportions (600 x 300) and the DICOM header read out."""
    await page.locator("#attachment-list li.attachment[data-kind=dicom] a.thumb").click()
    viewer = page.locator("#viewer[data-viewer=dicom]")
    image = viewer.locator("img.viewer")
    await wait_until_loaded(page, image)
    width, height = await image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width > 0
    assert width == 2 * height, (width, height)
    await expect(viewer.locator("[data-meta=modality]")).to_have_text("CT")
    await expect(viewer.locator("[data-meta=body_part]")).to_have_text("CHEST")


async def wait_until_loaded(page: Page, image: Locator) -> None:
    """Until the browser has decoded the image (lazy images are scrolled to first)."""
    await image.scroll_into_view_if_needed()
    await page.wait_for_function(IMAGE_LOADED, arg=await image.element_handle())


async def sign_opinion(page: Page, recommendations: str, amend_reason: str | None = None) -> None:
    """Write (or amend) and sign the opinion from the consult page."""
    await page.locator("#opinion-link").click()
    if amend_reason is None:
        await page.locator("#f-assessment").fill(ASSESSMENT)
    else:
        await expect(page.locator("#amending")).to_be_visible()
        await expect(page.locator("#f-assessment")).to_have_value(ASSESSMENT)
        await page.locator("#f-amendment_reason").fill(amend_reason)
    await page.locator("#f-recommendations").fill(recommendations)
    await page.locator("#f-sign").check()
    await page.locator("#sign-opinion").click()
    await expect_done(page, "signed")


async def expect_done(page: Page, done: str) -> None:
    """The consult page confirms what was just done."""
    await expect(page).to_have_url(re.compile(rf"/consults/[0-9a-f-]+\?done={done}(#\w+)?$"))
    await expect(page.locator("#done")).to_have_attribute("data-done", done)


def payload(name: str) -> FilePayload:
    """A file for the upload input: a PNG photo or a CT image in DICOM."""
    if name.endswith(".dcm"):
        return {"name": name, "mimeType": "application/dicom", "buffer": files.dicom()}
    return {"name": name, "mimeType": "image/png", "buffer": files.png(320, 240)}


async def file_via_api(server: LiveServer, urgency: str = "routine", draft: bool = False) -> Any:
    """doctor_a's request to cardiology about patient_a, filed through the JSON API."""
    body = {
        "patient_id": server.seed.patients["patient_a"],
        "specialty": "cardiology",
        "urgency": urgency,
        "question": QUESTION,
        "summary": CASE,
        "draft": draft,
    }
    return await server.api("doctor_a", "POST", "/api/v1/consults", body)
