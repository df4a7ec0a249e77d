"""Filing a consult in the order of the form: the specialist picker offers only the
specialists of the chosen specialty (not GPs, not the requester) or says there are none,
and files are attached while writing, before the send buttons."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.support import files
from tests.support.browser import Browsing, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

PATIENT = "Bệnh nhân patient_a"
QUESTION = "Có cần siêu âm tim không?"
BEFORE = "([a, b]) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING)"


async def _offered(page: Page) -> list[str]:
    """The named-specialist choices a person can pick (hidden groups left out)."""
    return await page.locator("#f-target_practitioner_id").evaluate(
        """s => [...s.querySelectorAll('optgroup:not([hidden]) option')]
                 .map(o => o.textContent.trim())"""
    )


async def _before(page: Page, first: str, then: str) -> bool:
    handles = [await page.locator(sel).element_handle() for sel in (first, then)]
    return bool(await page.evaluate(BEFORE, handles))


async def test_the_picker_follows_the_specialty_and_files_come_before_sending(
    browsing: Browsing,
) -> None:
    doctor = await browsing.page(locale="vi-VN")
    await sign_in(doctor, "doctor_a")
    await doctor.goto("/consults/new")
    assert await _before(doctor, "#add-files", "#submit-consult")
    await doctor.locator("#f-patient_id").select_option(label=PATIENT)

    await doctor.locator("#f-specialty").select_option("cardiology")
    offered = await _offered(doctor)
    assert len(offered) == 1
    assert offered[0].startswith("Specialist")
    await expect(doctor.locator("#no-specialists")).to_be_hidden()
    # General medicine has only GPs (the requester among them): no one to name, and why.
    await doctor.locator("#f-specialty").select_option("general_medicine")
    assert await _offered(doctor) == []
    await expect(doctor.locator("#no-specialists")).to_be_visible()

    await doctor.locator("#f-specialty").select_option("cardiology")
    await doctor.locator("#f-question").fill(QUESTION)
    await doctor.locator("#add-files").click()
    await expect(doctor).to_have_url(re.compile(r"/consults/[0-9a-f-]+/edit\?done=attach"))
    await expect(doctor.locator("#done")).to_have_attribute("data-done", "attach")
    await expect(doctor.locator("#f-question")).to_have_value(QUESTION)
    assert await _before(doctor, "#f-file", "#submit-consult")
    assert await _before(doctor, "#f-question", "#f-file")

    photo = {"name": "sieu-am.png", "mimeType": "image/png", "buffer": files.png(64, 48)}
    await doctor.locator("#f-file").set_input_files([photo])
    row = doctor.locator("#upload-queue li.upload[data-upload-item='sieu-am.png']")
    # The server inspects each file before keeping it; a busy machine takes a while.
    await expect(row).to_have_attribute("data-state", "done", timeout=60_000)
    await expect(doctor.locator("#attachment-list li.attachment")).to_have_count(1)
    await doctor.locator("#submit-consult").click()
    await expect(doctor).to_have_url(re.compile(r"/consults/[0-9a-f-]+\?done=submitted"))
    await expect(doctor.locator("#attachment-list li.attachment")).to_contain_text("sieu-am.png")
