"""A visit cancelled in the browser: cancelling asks first (a page of its own, no script),
a refused reason brings the focus back to it, and once cancelled the visit leaves the
upcoming list, loses its calendar link and is found under "cancelled"."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.browser import Browsing, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

REASON = "Con ốm, xin hẹn lại tuần sau."


async def test_cancelling_asks_first_and_moves_the_visit_out_of_upcoming(
    browsing: Browsing,
) -> None:
    server = browsing.server
    doctor = server.seed.practitioners["doctor_a"]
    slots = await server.api("patient_self", "GET", f"/api/v1/slots?practitioner_id={doctor}")
    body = {"slot_id": slots["items"][-1]["id"], "mode": "video", "reason": "Khám lại"}
    appt = await server.api("patient_self", "POST", "/api/v1/appointments", body)
    link = f"a[href='/appointments/{appt['id']}']"

    page = await browsing.page(locale="vi-VN")
    browsing.watch.expect_failure(f"/appointments/{appt['id']}/cancel")  # the refused reason
    await sign_in(page, "patient_self")
    await page.goto("/appointments")
    await expect(page.locator(link)).to_have_count(1)
    await page.locator(link).click()
    await expect(page.get_by_role("link", name="Thêm vào lịch của tôi (.ics)")).to_be_visible()

    await page.locator("a#cancel").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Hủy lịch hẹn?")
    await page.get_by_role("button", name="Có, hủy lịch hẹn").click()  # no reason given
    await expect(page.locator("#f-reason")).to_be_focused()
    await expect(page.locator("#f-reason-error")).to_be_visible()
    await page.get_by_role("link", name="Không, giữ lịch hẹn").click()
    await expect(page.locator("[role=status], .alert")).to_have_count(0)  # nothing changed

    await page.locator("a#cancel").click()
    await page.locator("#f-reason").fill(REASON)
    await page.get_by_role("button", name="Có, hủy lịch hẹn").click()
    await expect(page.get_by_role("status")).to_have_text("Đã hủy lịch hẹn.")
    await expect(page.locator("dl.facts")).to_contain_text(REASON)
    await expect(page.locator("a[href$='calendar.ics']")).to_have_count(0)
    await expect(page.locator("a#cancel")).to_have_count(0)

    await page.goto("/appointments")
    await expect(page.locator(link)).to_have_count(0)
    await page.get_by_role("link", name="Đã hủy", exact=True).click()
    await expect(page.locator(link)).to_have_count(1)
