"""Teaching pages in both languages: a trainer schedules a session with the form and sees
enrolments and attendance; a trainee of an invited facility enrols, sees the join link
and cancels; a trainee of another facility gets a 404; a certificate needs the share."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from telehealth.accounts.models import Role
from telehealth.db.base import utcnow
from tests.support.network import Network
from tests.support.pages import (
    INLINE_SCRIPT_RE,
    STYLE_RE,
    browse_as,
    page,
    submit,
    submitted,
    with_every_token,
)
from tests.support.teaching import add_user, schedule_session


async def test_a_trainer_schedules_and_a_trainee_enrols_through_the_pages(
    network: Network,
) -> None:
    await add_user(network, "trainee_d2", Role.TRAINEE, "D2")
    net = await with_every_token(network)
    await browse_as(net, "trainer")
    html = await page(net, "/teaching")
    assert 'href="/teaching"' in html  # in the menu
    assert "Lên lịch buổi đào tạo" in html  # Vietnamese by default
    local = (utcnow() + timedelta(minutes=30)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    start, end = (t.strftime("%Y-%m-%dT%H:%M") for t in (local, local + timedelta(hours=1)))
    bad = await submit(
        net, "/teaching", html, {"title": "ECG", "topic": "x", "starts_at": "hôm nay"}
    )
    assert bad.status == 400
    assert "Nhập ngày giờ" in await bad.text()
    fields = [
        ("title", "Đọc điện tâm đồ"),
        ("topic", "ECG cơ bản"),
        ("starts_at", start),
        ("ends_at", end),
        ("capacity", "5"),
        ("facility_ids", net.facilities["D1"]),
    ]
    location = await submitted(net, "/teaching", html, fields)
    assert location.startswith("/teaching/")
    detail = await page(net, location)
    assert "Đọc điện tâm đồ" in detail
    assert "Điểm danh" in detail
    assert "attendance.csv" in detail

    await browse_as(net, "trainee")
    listed = await page(net, "/teaching?lang=en")
    assert "Đọc điện tâm đồ" in listed
    mine = await page(net, location)
    back = await submitted(net, location + "/enrol", mine, {})
    assert back == location
    enrolled = await page(net, location)
    assert 'href="/rooms/' in enrolled  # the room is open: half an hour to the start
    assert "Hủy đăng ký" in enrolled
    await submitted(net, location + "/unenrol", enrolled, {})
    assert "Đăng ký" in await page(net, location)
    await page(net, location + "/certificate", status=404)

    await browse_as(net, "trainee_d2")
    assert "Đọc điện tâm đồ" not in await page(net, "/teaching")
    await page(net, location, status=404)
    await browse_as(net, "patient_self")
    await page(net, location, status=403)


async def test_teaching_pages_speak_both_languages_without_inline_script(
    network: Network,
) -> None:
    net = await with_every_token(network)
    session = await schedule_session(net, starts_in=timedelta(minutes=20))
    await browse_as(net, "trainer")
    for path in ("/teaching", f"/teaching/{session['id']}"):
        resp = await net.client.get(path + "?lang=en")
        text = await resp.text()
        assert resp.status == 200
        assert not INLINE_SCRIPT_RE.search(text)
        assert not STYLE_RE.search(text)
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    english = await page(net, "/teaching?lang=en")
    assert "Schedule a session" in english
    assert "Lên lịch buổi đào tạo" in await page(net, "/teaching?lang=vi")
