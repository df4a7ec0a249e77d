"""Booking in the browser: a coordinator books a visit for a patient without a login, sees it
in the facility's appointments and the doctor's schedule, switches language and signs out;
the doctor finds it in their own schedule."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Locator, Page, expect

from tests.support.browser import Browsing, choose_language, sign_in, sign_out

pytestmark = pytest.mark.asyncio(loop_scope="session")

PATIENT = "Bệnh nhân patient_a"  # registered at D1, no login
DOCTOR = "Doctor A"  # doctor_a, general medicine at D1
OTHER_DOCTOR = "Doctor B"  # doctor_b, general medicine at D2
D1 = "Bệnh viện huyện Mường Tè"
REASON = "Ho kéo dài 3 tuần, sốt về chiều."


async def test_coordinator_books_for_a_patient_and_finds_it_everywhere(
    browsing: Browsing,
) -> None:
    page = await browsing.page(locale="vi-VN")
    await sign_in(page, "coordinator_a")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Xin chào, Coordinator A")

    await start_booking_for(page, PATIENT)
    await search_free_times(page, specialty="general_medicine", facility=D1)
    await expect(doctor_block(page, OTHER_DOCTOR)).to_have_count(0)  # D2 filtered out
    slot = doctor_block(page, DOCTOR).get_by_role("link").first
    slot_time = (await slot.inner_text()).strip()
    await slot.click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Đặt lịch hẹn")
    await expect(page.locator("form[method=post]").get_by_text(PATIENT)).to_be_visible()
    await page.locator("input[name=mode][value=audio]").check()
    await page.locator("#f-reason").fill(REASON)
    await page.get_by_role("button", name="Đặt giờ này").click()

    await expect(page).to_have_url(re.compile(r"/appointments/[0-9a-f-]+\?done=booked$"))
    await expect(page.get_by_role("status")).to_have_text("Đã đặt lịch hẹn.")
    facts = page.locator("dl.facts")
    for text in (PATIENT, DOCTOR, REASON, "Chỉ gọi thoại", "Coordinator A"):
        await expect(facts).to_contain_text(text)
    when = page.locator("#s-details time").first
    await expect(when).to_have_text(slot_time)
    day = (await when.get_attribute("datetime") or "")[:10]
    appointment_path = page.url.split("?")[0].removeprefix(browsing.server.base_url)

    await page.get_by_role("navigation").get_by_role("link", name="Lịch hẹn", exact=True).click()
    visit = page.locator("li.visit", has=page.locator(f"a[href='{appointment_path}']"))
    await expect(visit).to_contain_text(PATIENT)
    await expect(visit).to_contain_text(DOCTOR)

    await open_schedule(page, DOCTOR, day)
    booked = page.get_by_role("link", name=PATIENT, exact=True)
    await expect(booked).to_have_attribute("href", appointment_path)

    await choose_language(page, "en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Schedule")
    await expect(page.get_by_role("link", name=PATIENT, exact=True)).to_have_attribute(
        "href", appointment_path
    )
    menu = page.get_by_role("navigation")
    for link in ("Home", "Find a doctor", "Appointments", "Schedule", "Patients"):
        await expect(menu.get_by_role("link", name=link, exact=True)).to_be_visible()

    await sign_out(page)
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")  # kept
    await page.goto(appointment_path)
    await expect(page).to_have_url(re.compile(r"/login\?next="))

    doctor = await browsing.page(locale="vi-VN")
    await sign_in(doctor, "doctor_a")
    await doctor.get_by_role("navigation").get_by_role("link", name="Lịch hẹn", exact=True).click()
    await expect(doctor.locator(f"a[href='{appointment_path}']")).to_have_count(1)
    await doctor.goto(appointment_path)
    await expect(doctor.locator("dl.facts")).to_contain_text(REASON)


async def start_booking_for(page: Page, patient: str) -> None:
    """From the patient list, the "Book" link next to the patient."""
    await page.get_by_role("navigation").get_by_role("link", name="Bệnh nhân", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Bệnh nhân")
    await page.get_by_role("link", name=f"Đặt lịch {patient}").click()
    await expect(page.get_by_role("status")).to_have_text(f"Đặt lịch cho {patient}.")


async def search_free_times(page: Page, specialty: str, facility: str) -> None:
    """The find-a-doctor filters, keeping the patient booked for."""
    await page.locator("#f-specialty").select_option(specialty)
    await page.locator("#f-facility_id").select_option(label=f"{facility} (D1)")
    await page.get_by_role("search").get_by_role("button", name="Tìm kiếm").click()
    await expect(page).to_have_url(re.compile(r"[?&]patient_id="))
    await expect(page.locator("#f-specialty")).to_have_value(specialty)


def doctor_block(page: Page, name: str) -> Locator:
    """The free times of one doctor on the first day listed."""
    first_day = page.locator("section.day").first
    return first_day.locator(".doctor", has=page.get_by_role("heading", name=name, exact=True))


async def open_schedule(page: Page, doctor: str, day: str) -> None:
    """One doctor's day in the schedule."""
    await page.get_by_role("navigation").get_by_role("link", name="Lịch làm việc").click()
    await page.locator("#f-practitioner_id").select_option(label=doctor)
    await page.locator("#f-date").fill(day)
    await page.locator("input[name=view][value=day]").check()
    await page.locator("form.filters").get_by_role("button", name="Xem").click()
    await expect(page.locator("section.day h2").first).to_contain_text(
        "/".join(reversed(day.split("-")))
    )
