"""Focus and names: after a form comes back refused, the focus is on the first field in
error (no script: `autofocus`), and the page's language speaks, not the browser's
bubbles; time-slot links are read out with their day and doctor; the focus ring stands
out (3:1) from what is around it, on the light pages and in the dark header."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import Browsing, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

FIX_FIELDS = "Vui lòng sửa các mục được đánh dấu bên dưới."

# The focused element's outline colour and the colour behind it (the first ancestor with
# an opaque background), as [r, g, b] lists.
RING_AND_GROUND = """() => {
  const el = document.activeElement;
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const style = getComputedStyle(el);
  let node = el.parentElement;
  let ground = [255, 255, 255];
  while (node) {
    const [r, g, b, a] = rgb(getComputedStyle(node).backgroundColor);
    if (a === undefined || a > 0.99) { ground = [r, g, b]; break; }
    node = node.parentElement;
  }
  return {
    tag: el.tagName, text: (el.innerText || el.value || '').trim().slice(0, 30),
    style: style.outlineStyle, width: parseFloat(style.outlineWidth),
    ring: rgb(style.outlineColor).slice(0, 3), ground,
  };
}"""


def luminance(rgb: list[float]) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[float], b: list[float]) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


async def test_the_contrast_formula() -> None:
    assert contrast([255, 255, 255], [0, 0, 0]) == pytest.approx(21)
    assert contrast([255, 191, 71], [255, 255, 255]) == pytest.approx(1.6, abs=0.05)


async def test_a_refused_form_puts_the_focus_on_the_first_field_in_error(
    browsing: Browsing,
) -> None:
    page = await browsing.page(locale="vi-VN")
    browsing.watch.expect_failure("/register")  # answered 400, on purpose
    await page.goto("/register")
    await page.locator("#f-phone").fill("12")  # too short, and the full name is missing
    await page.locator("#f-username").fill("ab")
    await page.locator("form[action='/register'] button[type=submit]").click()
    # No browser bubble held the form back: the server answered, in Vietnamese.
    await expect(page.locator(".alert")).to_have_text(
        "Vui lòng sửa các mục được đánh dấu bên dưới."
    )
    invalid = page.locator("[aria-invalid=true]")
    assert await invalid.count() >= 2
    await expect(invalid.first).to_have_id("f-full_name")
    await expect(page.locator("#f-full_name")).to_be_focused()


async def test_a_refusal_without_a_field_puts_the_focus_on_the_message(
    browsing: Browsing,
) -> None:
    page = await browsing.page(locale="vi-VN")
    browsing.watch.expect_failure("/login")  # a refused sign-in, on purpose
    await page.goto("/login")
    await page.locator("#f-username").fill("doctor_a")
    await page.locator("#f-password").fill("not the password")
    await page.locator("form[action='/login'] button[type=submit]").click()
    await expect(page.locator("p.alert")).to_be_focused()


async def test_slot_links_name_the_day_and_the_doctor(browsing: Browsing) -> None:
    page = await browsing.page(locale="vi-VN")
    await sign_in(page, "patient_self")
    doctor = browsing.server.seed.practitioners["doctor_a"]
    await page.goto(f"/find?practitioner_id={doctor}")
    slot = page.locator(".slots a").first
    time = (await slot.inner_text()).strip()
    name = await slot.get_attribute("aria-label") or ""
    assert re.fullmatch(rf"{time}, (Thứ .+|Chủ Nhật), \d\d/\d\d/\d{{4}}, Doctor A", name), name
    await expect(page.get_by_role("link", name=name, exact=True)).to_have_count(1)


async def test_the_focus_ring_stands_out_wherever_it_is(browsing: Browsing) -> None:
    page = await browsing.page(locale="vi-VN")
    await sign_in(page, "doctor_a")
    rings = await tab_through(page, 25)
    await page.goto("/login")
    rings += await tab_through(page, 8)
    weak = [r for r in rings if r["style"] == "none" or r["width"] < 2]
    weak += [r for r in rings if contrast(r["ring"], r["ground"]) < 3]
    assert weak == [], weak
    assert {tuple(r["ground"]) for r in rings} >= {(255, 255, 255), (7, 55, 99)}


async def tab_through(page: Page, presses: int) -> list[dict[str, object]]:
    """Press Tab `presses` times from the top; what each focused element shows."""
    await page.locator("body").focus()
    seen = []
    for _ in range(presses):
        await page.keyboard.press("Tab")
        ring = await page.evaluate(RING_AND_GROUND)
        if ring["tag"] != "BODY":  # past the last element, the focus leaves the page
            seen.append(ring)
    return seen
