"""What a new user sees when there is nothing to show: an empty slot search says why, in
the page's language, and a consult page gives the patient's age and sex at a glance."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.browser import Browsing, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_an_empty_search_says_there_is_no_doctor_of_the_specialty(
    browsing: Browsing,
) -> None:
    patient = await browsing.page(locale="vi-VN")
    await sign_in(patient, "patient_self")
    await patient.goto("/find")
    await patient.locator("#f-specialty").select_option("paediatrics")
    await patient.locator("form[role=search] button[type=submit]").click()
    empty = patient.locator("#no-slots")
    await expect(empty).to_be_visible()
    await expect(empty).to_contain_text("Không có bác sĩ nào thuộc chuyên khoa này")
    await expect(empty).not_to_contain_text("Hãy thử ngày")
