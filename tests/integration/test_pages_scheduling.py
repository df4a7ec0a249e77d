"""Scheduling pages as a browser uses them: find, book, appointments, schedule, hours, language."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telehealth import keys
from telehealth.pages import timetable
from tests.support.network import Network
from tests.support.pages import (
    INLINE_SCRIPT_RE,
    STYLE_RE,
    browse_as,
    origin,
    page,
    submit,
    with_every_token,
)
from tests.support.scheduling import free_slots, open_every_day, practitioner_id

BOOK_LINK_RE = re.compile(r'href="/book/([A-Za-z0-9-]+_\d{8}T\d{4}Z)[^"]*"[^>]*>([^<]+)<')
REASON = "Đau ngực khi gắng sức"


@pytest.fixture
async def network(network: Network) -> Network:
    """The shared network, with every API token fetched first."""
    return await with_every_token(network)


def slot_links(html: str) -> list[tuple[str, str]]:
    """(slot id, text) of every slot link on a page; on /find the text is the local time."""
    return BOOK_LINK_RE.findall(html)


async def book_through_pages(net: Network, slot: str, query: str = "", **fields: str) -> str:
    """Open the confirmation page of a slot, submit it, and return the appointment id."""
    form = await page(net, f"/book/{slot}{query}")
    resp = await submit(net, f"/book/{slot}", form, {"mode": "video", "reason": REASON, **fields})
    assert resp.status == 303, await resp.text()
    match = re.fullmatch(r"/appointments/([0-9a-f-]+)\?done=booked", resp.headers["Location"])
    assert match is not None, resp.headers["Location"]
    return match.group(1)


async def book_by_api(net: Network, who: str, slot: str, patient: str | None = None) -> Any:
    """Book through the JSON API (someone else, in another browser)."""
    body: dict[str, Any] = {"slot_id": slot, "mode": "audio", "reason": REASON}
    if patient:
        body["patient_id"] = net.patients[patient]
    resp = await net.client.post("/api/v1/appointments", json=body, headers=await net.headers(who))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def appointment_json(net: Network, appointment_id: str) -> Any:
    """The appointment as the API shows it to an admin."""
    resp = await net.client.get(
        f"/api/v1/appointments/{appointment_id}", headers=await net.headers("admin")
    )
    assert resp.status == 200
    return await resp.json()


# --- finding and booking -------------------------------------------------------------------


async def test_patient_finds_books_lists_and_cancels(network: Network) -> None:
    await open_every_day(network, "specialist")
    await browse_as(network, "patient_self")
    found = await page(network, "/find?specialty=cardiology&facility_id=&date=")
    assert "Specialist" in found
    assert "Bệnh viện Trung ương" in found
    slot, _ = slot_links(found)[0]

    appointment_id = await book_through_pages(network, slot)
    detail = await page(network, f"/appointments/{appointment_id}?done=booked")
    assert "Đã đặt lịch hẹn." in detail
    assert 'href="/api/v1/appointments/' + appointment_id + '/calendar.ics"' in detail
    listing = await page(network, "/appointments")
    assert f'href="/appointments/{appointment_id}"' in listing
    assert slot not in {s for s, _ in slot_links(await page(network, "/find?specialty=cardiology"))}

    resp = await submit(
        network, f"/appointments/{appointment_id}/cancel", detail, {"reason": "Bận gặt lúa"}
    )
    assert resp.status == 303
    cancelled = await page(network, resp.headers["Location"])
    assert "Đã hủy lịch hẹn." in cancelled
    assert (await appointment_json(network, appointment_id))["status"] == "cancelled"


async def test_booking_without_a_reason_is_shown_again(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]["id"]
    await browse_as(network, "patient_self")
    form = await page(network, f"/book/{slot}")
    resp = await submit(network, f"/book/{slot}", form, {"mode": "video", "reason": " "})
    text = await resp.text()
    assert resp.status == 400
    assert "Mô tả ngắn gọn lý do cần khám." in text
    assert 'aria-invalid="true"' in text
    assert slot == (await free_slots(network, pid))[0]["id"]  # nothing was booked


async def test_coordinator_books_on_behalf_of_a_patient(network: Network) -> None:
    await open_every_day(network, "doctor_a")
    await browse_as(network, "coordinator_a")
    patient_id = network.patients["patient_a"]
    patients = await page(network, "/patients")
    assert f'href="/find?patient_id={patient_id}"' in patients
    found = await page(network, f"/find?patient_id={patient_id}")
    assert "Đặt lịch cho Bệnh nhân patient_a." in found
    assert f"?patient_id={patient_id}" in found  # the slot links carry the patient
    slot, _ = slot_links(found)[0]

    form = await page(network, f"/book/{slot}?patient_id={patient_id}")
    assert f'name="patient_id" value="{patient_id}"' in form
    appointment_id = await book_through_pages(
        network, slot, f"?patient_id={patient_id}", patient_id=patient_id
    )
    detail = await page(network, f"/appointments/{appointment_id}")
    assert "Người đặt lịch" in detail
    assert '<dd class="booked-by">Coordinator A</dd>' in detail
    booked = await appointment_json(network, appointment_id)
    assert booked["booked_by"]["id"] == network.users["coordinator_a"]
    assert booked["patient"]["id"] == patient_id


async def test_staff_search_and_choose_the_patient_on_the_booking_page(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    slot = (await free_slots(network, pid))[0]["id"]
    await browse_as(network, "coordinator_a")
    form = await page(network, f"/book/{slot}?q=patient_a")
    assert 'type="radio" name="patient_id"' in form
    assert "Bệnh nhân patient_a" in form
    assert "Bệnh nhân patient_b" not in form  # another facility's patient
    resp = await submit(network, f"/book/{slot}", form, {"mode": "audio", "reason": REASON})
    assert resp.status == 400
    assert "Chọn bệnh nhân cần đặt lịch." in await resp.text()


async def test_a_slot_taken_meanwhile_shows_the_message_and_alternatives(
    network: Network,
) -> None:
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]["id"]
    await browse_as(network, "patient_self")
    form = await page(network, f"/book/{slot}")
    await book_by_api(network, "coordinator_a", slot, patient="patient_a")

    resp = await submit(network, f"/book/{slot}", form, {"mode": "video", "reason": REASON})
    text = await resp.text()
    assert resp.status == 409
    assert "Người khác vừa đặt giờ này." in text
    alternatives = {s for s, _ in slot_links(text)}
    assert alternatives
    assert slot not in alternatives
    assert alternatives <= {s["id"] for s in await free_slots(network, pid)}
    # Opening the taken slot again says so too, with the same alternatives.
    again = await page(network, f"/book/{slot}")
    assert "Giờ này không còn trống." in again


async def test_stranger_gets_404_for_anothers_appointment(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    slot = (await free_slots(network, pid))[0]["id"]
    appointment = await book_by_api(network, "coordinator_a", slot, patient="patient_a")
    await browse_as(network, "patient_self")
    for path in (
        f"/appointments/{appointment['id']}",
        f"/appointments/{appointment['id']}/waiting-room",
    ):
        refusal = await page(network, path, status=404)
        assert "Không tìm thấy" in refusal
        assert "Không có lịch hẹn này." in refusal  # the service's detail, translated
    home = await page(network, "/")
    resp = await submit(network, f"/appointments/{appointment['id']}/cancel", home, {"reason": "x"})
    assert resp.status == 404
    assert (await appointment_json(network, appointment["id"]))["status"] == "booked"


@pytest.mark.parametrize(
    "path",
    [
        "/book/not-a-slot",
        "/book/x_20300101T0100Z",
        "/appointments/%00",
        "/appointments/abc/waiting-room",
    ],
)
async def test_unknown_or_malformed_ids_are_404_pages(network: Network, path: str) -> None:
    await browse_as(network, "patient_self")
    assert "Không tìm thấy" in await page(network, path, status=404)


@pytest.mark.parametrize(
    "query",
    [
        "/find?practitioner_id=%00",
        "/find?specialty=a%00b",
        "/find?date=31-12-2030",
        "/schedule?view=month",
    ],
)
async def test_bad_page_queries_are_400_pages(network: Network, query: str) -> None:
    await browse_as(network, "doctor_a")
    await page(network, query, status=400)


async def test_nul_characters_in_a_form_never_reach_the_database(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slot = (await free_slots(network, pid))[0]["id"]
    await browse_as(network, "patient_self")
    form = await page(network, f"/book/{slot}")
    await page(network, f"/book/{slot}?q=a%00b", status=400)
    resp = await submit(network, f"/book/{slot}", form, {"mode": "video", "reason": "a\x00b"})
    assert resp.status == 400
    assert slot == (await free_slots(network, pid))[0]["id"]


async def test_reschedule_through_the_pages(network: Network) -> None:
    pid = await open_every_day(network, "specialist")
    slots = await free_slots(network, pid)
    await browse_as(network, "patient_self")
    appointment_id = await book_through_pages(network, slots[0]["id"])
    detail = await page(network, f"/appointments/{appointment_id}")
    link = f"/find?practitioner_id={pid}&amp;reschedule={appointment_id}"
    assert link in detail
    found = await page(network, link.replace("&amp;", "&"))
    new_slot = next(s for s, _ in slot_links(found) if s != slots[0]["id"])
    form = await page(network, f"/book/{new_slot}?reschedule={appointment_id}")
    assert f'action="/appointments/{appointment_id}/reschedule"' in form
    resp = await submit(
        network,
        f"/appointments/{appointment_id}/reschedule",
        form,
        {"slot_id": new_slot, "reason": "Trùng lịch"},
    )
    assert resp.status == 303, await resp.text()
    assert "Đã dời lịch hẹn." in await page(network, resp.headers["Location"])
    assert (await appointment_json(network, appointment_id))["slot_id"] == new_slot


# --- waiting room, schedule, outcome -------------------------------------------------------


async def test_enter_the_waiting_room_checks_in(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a", slot_minutes=5)
    slot = (await free_slots(network, pid))[0]["id"]  # starts within five minutes
    await browse_as(network, "patient_self")
    appointment_id = await book_through_pages(network, slot)
    detail = await page(network, f"/appointments/{appointment_id}")
    assert "Vào phòng chờ" in detail
    resp = await submit(network, f"/appointments/{appointment_id}/check-in", detail, {})
    assert resp.status == 303
    assert resp.headers["Location"] == f"/appointments/{appointment_id}/waiting-room"
    room = await page(network, resp.headers["Location"])
    assert "Bạn đang ở phòng chờ" in room
    appointment = await appointment_json(network, appointment_id)
    assert appointment["status"] == "checked_in"
    # The waiting room leads into the call page of the visit's room.
    assert appointment["room_id"]
    assert f'id="enter-room" href="/rooms/{appointment["room_id"]}"' in room
    assert "Mở phòng khám trực tuyến" in room
    assert "<video" not in room


async def test_waiting_room_is_closed_long_before_the_visit(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a", start="00:00", end="23:30")
    later = next(s for s in await free_slots(network, pid, limit=200) if _hours_ahead(s) > 2)
    await browse_as(network, "patient_self")
    appointment_id = await book_through_pages(network, later["id"])
    detail = await page(network, f"/appointments/{appointment_id}")
    assert "Phòng chờ mở lúc" in detail
    resp = await submit(network, f"/appointments/{appointment_id}/check-in", detail, {})
    assert resp.status == 422
    assert "Phòng chờ mở một giờ trước giờ hẹn." in await resp.text()


def _hours_ahead(slot: Any) -> float:
    start = datetime.fromisoformat(slot["start"])
    return (start - timetable.clock()).total_seconds() / 3600


async def test_practitioner_week_view_lists_the_booking(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    slot = (await free_slots(network, pid))[0]
    appointment = await book_by_api(network, "coordinator_a", slot["id"], patient="patient_a")
    day = slot["start"][:10]
    await browse_as(network, "doctor_a")
    week = await page(network, f"/schedule?view=week&date={day}")
    assert f'href="/appointments/{appointment["id"]}"' in week
    assert f'href="/rooms/{appointment["room_id"]}" data-testid="join-visit"' in week
    assert "Bệnh nhân patient_a" in week
    assert week.count('class="day"') == 7
    other = await page(network, "/schedule?view=day&date=2001-01-01")
    assert appointment["id"] not in other
    await browse_as(network, "doctor_b")  # another practitioner's schedule stays private
    assert appointment["id"] not in await page(network, f"/schedule?view=week&date={day}")


async def test_coordinator_chooses_a_practitioner_schedule(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    slot = (await free_slots(network, pid))[0]
    appointment = await book_by_api(network, "patient_self", slot["id"])
    await browse_as(network, "coordinator_a")
    chosen = await page(
        network, f"/schedule?view=week&date={slot['start'][:10]}&practitioner_id={pid}"
    )
    assert f'value="{pid}" selected' in chosen
    assert appointment["id"] in chosen


async def test_practitioner_marks_a_started_visit_completed(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = await open_every_day(network, "doctor_a")
    slot = (await free_slots(network, pid))[0]
    appointment = await book_by_api(network, "patient_self", slot["id"])
    await browse_as(network, "doctor_a")
    schedule = f"/schedule?view=day&date={slot['start'][:10]}"
    assert "/close" not in await page(network, schedule)  # not before the start

    started = datetime.fromisoformat(slot["start"]) + timedelta(minutes=1)
    monkeypatch.setattr(timetable, "clock", lambda: started)
    # The service's own clock moves too (it is what refuses an early close).
    monkeypatch.setattr(network.client.app[keys.APPOINTMENTS], "_clock", lambda: started)
    html = await page(network, schedule)
    assert f'action="/appointments/{appointment["id"]}/close"' in html
    resp = await submit(
        network,
        f"/appointments/{appointment['id']}/close",
        html,
        {"outcome": "completed", "next": schedule},
    )
    assert resp.status == 303
    assert resp.headers["Location"] == schedule
    assert (await appointment_json(network, appointment["id"]))["status"] == "completed"


# --- availability --------------------------------------------------------------------------


def hidden(html: str, name: str) -> str:
    """The value of a hidden field of the page."""
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match is not None, name
    return match.group(1)


def weekly_form(
    html: str, start: str, end: str, minutes: str = "30", pid: str | None = None
) -> list[tuple[str, str]]:
    """The availability form with every weekday set to [start, end)."""
    fields = [
        ("practitioner_id", pid or hidden(html, "practitioner_id")),
        ("rows", hidden(html, "rows")),
    ]
    for i in range(7):
        fields += [(f"w{i}", str(i)), (f"k{i}", "day"), (f"s{i}", start), (f"e{i}", end)]
        fields += [(f"m{i}", minutes), (f"bs{i}", ""), (f"be{i}", "")]
    return fields


async def offered_times(network: Network, pid: str) -> set[str]:
    """The local times a patient is offered on the first page of the doctor's free slots."""
    await browse_as(network, "patient_self")
    return {t for _, t in slot_links(await page(network, f"/find?practitioner_id={pid}"))}


async def test_availability_form_changes_slots_and_reports_conflicts(network: Network) -> None:
    pid = await practitioner_id(network, "doctor_a")
    await browse_as(network, "doctor_a")
    form = await page(network, "/availability")
    resp = await submit(network, "/availability/rules", form, weekly_form(form, "08:00", "11:00"))
    assert resp.status == 303, await resp.text()
    assert "Đã lưu giờ làm việc." in await page(network, resp.headers["Location"])
    assert await offered_times(network, pid) <= {
        "08:00",
        "08:30",
        "09:00",
        "09:30",
        "10:00",
        "10:30",
    }

    booked = await book_by_api(network, "patient_self", (await free_slots(network, pid))[0]["id"])
    await browse_as(network, "doctor_a")
    form = await page(network, "/availability")
    assert 'value="08:00"' in form
    resp = await submit(network, "/availability/rules", form, weekly_form(form, "13:00", "15:00"))
    assert resp.status == 303
    after = await page(network, resp.headers["Location"])
    assert f'href="/appointments/{booked["id"]}/cancel"' in after
    assert "Lò Văn Tự" in after
    assert f"reschedule={booked['id']}" in after
    assert (await appointment_json(network, booked["id"]))["status"] == "booked"  # never cancelled
    assert await offered_times(network, pid) <= {"13:00", "13:30", "14:00", "14:30"}


async def test_bad_hours_are_shown_on_the_form_and_nothing_changes(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a", start="08:00", end="09:00")
    await browse_as(network, "doctor_a")
    form = await page(network, "/availability")
    fields = weekly_form(form, "10:00", "09:00")
    resp = await submit(network, "/availability/rules", form, fields)
    text = await resp.text()
    assert resp.status == 400
    assert "Giờ kết thúc phải sau giờ bắt đầu" in text
    assert 'value="10:00"' in text  # what was typed is shown again
    assert {s["start"][11:16] for s in await free_slots(network, pid)} <= {"08:00", "08:30"}


async def test_absence_is_added_and_removed_with_the_form(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    first = (await free_slots(network, pid))[0]
    await browse_as(network, "doctor_a")
    form = await page(network, "/availability")
    start = datetime.fromisoformat(first["start"])
    block = {
        "practitioner_id": pid,
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "Nghỉ phép",
    }
    resp = await submit(network, "/availability/blocks", form, block)
    assert resp.status == 303, await resp.text()
    shown = await page(network, resp.headers["Location"])
    assert "Nghỉ phép" in shown
    assert first["id"] not in {s["id"] for s in await free_slots(network, pid)}
    block_id = re.search(r'action="/availability/blocks/([0-9a-f-]+)/delete"', shown)
    assert block_id is not None
    resp = await submit(
        network, f"/availability/blocks/{block_id.group(1)}/delete", shown, {"practitioner_id": pid}
    )
    assert resp.status == 303
    assert first["id"] in {s["id"] for s in await free_slots(network, pid)}

    bad = await submit(network, "/availability/blocks", shown, {**block, "end": block["start"]})
    assert bad.status == 400
    assert "Nhập thời điểm bắt đầu và kết thúc" in await bad.text()


async def test_coordinator_manages_the_hours_of_a_facility_doctor(network: Network) -> None:
    pid = await practitioner_id(network, "doctor_a")
    await browse_as(network, "coordinator_a")
    chooser = await page(network, "/availability")
    assert f'<option value="{pid}"' in chooser
    form = await page(network, f"/availability?practitioner_id={pid}")
    assert hidden(form, "practitioner_id") == pid
    resp = await submit(network, "/availability/rules", form, weekly_form(form, "07:00", "08:00"))
    assert resp.status == 303
    assert await offered_times(network, pid) <= {"07:00", "07:30"}


class FormFields(HTMLParser):
    """The fields one form of a page submits as rendered (inputs and selected options)."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.select = action, False, ""
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif self.inside and tag == "input" and a.get("name"):
            self.fields.append((a["name"], a.get("value", "")))
        elif self.inside and tag == "select":
            self.select = a.get("name", "")
        elif self.inside and tag == "option" and self.select and "selected" in a:
            self.fields.append((self.select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = ""


def form_fields(html: str, action: str) -> list[tuple[str, str]]:
    """What the form posting to `action` sends if submitted untouched (token excluded)."""
    parser = FormFields(action)
    parser.feed(html)
    return [(k, v) for k, v in parser.fields if k != "csrf_token"]


async def rules_of(network: Network, pid: str) -> list[Any]:
    """The stored weekly rules, as the API returns them, in a comparable order."""
    resp = await network.client.get(
        f"/api/v1/practitioners/{pid}/availability", headers=await network.headers("doctor_a")
    )
    rules = (await resp.json())["rules"]
    return sorted(
        (r["weekday"], r["start"], r["end"], r["slot_minutes"], r["breaks"]) for r in rules
    )


async def test_two_windows_and_breaks_survive_saving_the_form_unchanged(network: Network) -> None:
    pid = await practitioner_id(network, "doctor_a")
    await browse_as(network, "doctor_a")
    form = await page(network, "/availability")
    fields = dict(form_fields(form, "/availability/rules"))
    extra = int(fields["rows"]) - 1  # the last row adds another window on a chosen day
    fields.update({"s0": "07:00", "e0": "11:00", "m0": "20", "bs0": "09:00", "be0": "09:20"})
    fields.update({f"w{extra}": "0", f"s{extra}": "13:00", f"e{extra}": "15:00"})
    resp = await submit(network, "/availability/rules", form, fields)
    assert resp.status == 303, await resp.text()
    saved = await rules_of(network, pid)
    assert [r[:4] for r in saved] == [
        (0, "07:00:00", "11:00:00", 20),
        (0, "13:00:00", "15:00:00", 30),
    ]
    assert saved[0][4] == [["09:00:00", "09:20:00"]]

    again = await page(network, "/availability")
    assert again.count("<legend>Thứ Hai</legend>") == 1
    resp = await submit(
        network, "/availability/rules", again, form_fields(again, "/availability/rules")
    )
    assert resp.status == 303
    assert await rules_of(network, pid) == saved


async def test_another_doctor_cannot_change_the_hours(network: Network) -> None:
    pid = await practitioner_id(network, "doctor_a")
    await browse_as(network, "doctor_b")
    own = await page(network, f"/availability?practitioner_id={pid}")
    assert hidden(own, "practitioner_id") != pid  # a doctor only ever sees their own
    fields = weekly_form(own, "08:00", "09:00", pid=pid)
    resp = await submit(network, "/availability/rules", own, fields)
    assert resp.status == 404
    assert await free_slots(network, pid) == []


# --- language ------------------------------------------------------------------------------


async def test_language_switch_is_saved_in_the_account(network: Network) -> None:
    await browse_as(network, "doctor_a")
    schedule = await page(network, "/schedule?view=week")
    resp = await submit(
        network, "/language", schedule, {"lang": "en", "next": "/schedule?view=week&lang=vi"}
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/schedule?view=week"
    english = await page(network, resp.headers["Location"])
    assert '<html lang="en">' in english
    assert "Schedule" in english
    await browse_as(network, "doctor_a")  # a new browser: no cookie, the account remembers
    resp = await network.client.get("/", headers={"Accept-Language": "vi"})
    assert '<html lang="en">' in await resp.text()
    me = await network.client.get("/api/v1/me", headers=await network.headers("doctor_a"))
    assert (await me.json())["locale"] == "en"


async def test_language_switch_needs_the_token_when_signed_in(network: Network) -> None:
    await browse_as(network, "doctor_a")
    resp = await network.client.post(
        "/language", data={"lang": "en"}, headers=origin(network.client), allow_redirects=False
    )
    assert resp.status == 403
    assert '<html lang="vi">' in await page(network, "/")


async def test_language_switch_of_an_anonymous_visitor_sticks_in_a_cookie(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.post(
        "/language",
        data={"lang": "en", "next": "//evil.example/"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/"
    assert resp.cookies["th_lang"].value == "en"
    text = await (await client.get("/login", headers={"Accept-Language": "vi"})).text()
    assert '<html lang="en">' in text
    assert "Sign in" in text
    assert 'name="lang" value="en" lang="en" aria-pressed="true"' in text
    query_wins = await (await client.get("/login?lang=vi")).text()
    assert '<html lang="vi">' in query_wins


async def test_an_unknown_language_is_refused(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/language", data={"lang": "fr"}, headers=origin(client))
    assert resp.status == 400
    assert "th_lang" not in resp.cookies


# --- every page ----------------------------------------------------------------------------


async def _pages_of(network: Network) -> dict[str, list[str]]:
    """The scheduling pages of each role, with enough data to fill them."""
    doctor = await open_every_day(network, "doctor_a", slot_minutes=5)
    slots = await free_slots(network, doctor, limit=40)
    appointments = [await book_by_api(network, "coordinator_a", slots[0]["id"], "patient_a")]
    for slot in slots[1:30]:
        appointments.append(await book_by_api(network, "doctor_a", slot["id"], "patient_a"))
    own = await book_by_api(network, "patient_self", slots[30]["id"])
    day = slots[0]["start"][:10]
    first = appointments[0]["id"]
    return {
        "patient_self": [
            "/",
            "/find",
            f"/find?practitioner_id={doctor}&date={day}",
            f"/book/{slots[35]['id']}",
            f"/book/{slots[0]['id']}",
            "/appointments",
            "/appointments?view=past",
            f"/appointments/{own['id']}",
            f"/appointments/{own['id']}/waiting-room",
        ],
        "coordinator_a": [
            "/",
            "/patients",
            f"/find?patient_id={network.patients['patient_a']}",
            f"/book/{slots[36]['id']}",
            f"/book/{slots[36]['id']}?patient_id={network.patients['patient_a']}",
            f"/book/{slots[36]['id']}?reschedule={first}",
            f"/appointments/{first}",
            f"/schedule?view=week&date={day}",
            "/schedule",
            "/availability",
            f"/availability?practitioner_id={doctor}",
        ],
        "doctor_a": [
            f"/schedule?view=week&date={day}",
            f"/schedule?view=day&date={day}",
            "/availability",
            "/appointments",
        ],
    }


async def test_every_page_speaks_vietnamese_then_english_and_stays_small(
    network: Network,
) -> None:
    for username, paths in (await _pages_of(network)).items():
        await browse_as(network, username)
        for path in paths:
            text = await page(network, path)
            assert '<html lang="vi">' in text, path
            assert "Đăng xuất" in text, path
            assert len(text.encode()) < 100_000, (path, len(text.encode()))
            assert not INLINE_SCRIPT_RE.search(text), path
            assert not STYLE_RE.search(text), path
            assert "innerHTML" not in text
        resp = await submit(network, "/language", text, {"lang": "en", "next": paths[0]})
        assert resp.status == 303
        for path in paths:
            text = await page(network, path)
            assert '<html lang="en">' in text, path
            assert "Sign out" in text, path
            assert "Đăng xuất" not in text, path


@pytest.mark.parametrize(
    "path", ["/find", "/appointments", "/schedule", "/availability", "/book/x_20300101T0100Z"]
)
async def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient[Any, Any], path: str
) -> None:
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("username", "path", "status"),
    [
        ("patient_self", "/schedule", 403),
        ("patient_self", "/availability", 403),
        ("trainer", "/book/x_20300101T0100Z", 403),
        ("admin", "/schedule", 200),
        ("trainee", "/find", 200),
    ],
)
async def test_scheduling_pages_are_for_their_roles(
    network: Network, username: str, path: str, status: int
) -> None:
    await browse_as(network, username)
    await page(network, path, status=status)


async def test_upcoming_lists_only_visits_still_to_happen(network: Network) -> None:
    pid = await open_every_day(network, "doctor_a")
    slots = await free_slots(network, pid)
    kept = await book_by_api(network, "patient_self", slots[3]["id"])
    dropped = await book_by_api(network, "patient_self", slots[4]["id"])
    resp = await network.client.post(
        f"/api/v1/appointments/{dropped['id']}/cancel",
        json={"reason": "Bận"},
        headers=await network.headers("patient_self"),
    )
    assert resp.status == 200, await resp.text()
    for active, expected in (("true", kept), ("false", dropped)):
        resp = await network.client.get(
            f"/api/v1/appointments?active={active}", headers=await network.headers("patient_self")
        )
        assert [a["id"] for a in (await resp.json())["items"]] == [expected["id"]]

    await browse_as(network, "patient_self")
    upcoming = await page(network, "/appointments")
    assert f'href="/appointments/{kept["id"]}"' in upcoming
    assert f'href="/appointments/{dropped["id"]}"' not in upcoming
    cancelled = await page(network, "/appointments?view=cancelled")
    assert f'href="/appointments/{dropped["id"]}"' in cancelled
    assert f'href="/appointments/{kept["id"]}"' not in cancelled
    detail = await page(network, f"/appointments/{dropped['id']}")
    assert "calendar.ics" not in detail
    assert f'href="/appointments/{dropped["id"]}/cancel"' not in detail
    # Cancelling asks first: the page of the question, then the form posts.
    confirm = await page(network, f"/appointments/{kept['id']}/cancel")
    assert 'action="/appointments/' + kept["id"] + '/cancel"' in confirm
    assert (await appointment_json(network, kept["id"]))["status"] == "booked"
