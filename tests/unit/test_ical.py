"""iCalendar building: local times with a VTIMEZONE, UID, SEQUENCE, STATUS and no leaks."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from telehealth.accounts.models import FacilityLevel
from telehealth.accounts.schemas import FacilityRef
from telehealth.scheduling import calendar
from telehealth.scheduling.models import AppointmentStatus, VisitMode
from telehealth.scheduling.schemas import AppointmentOut, PersonRef

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2030, 3, 1, 2, 0, tzinfo=UTC)
PATIENT_NAME = "Lò Văn Tự"
REASON = "Đau ngực khi gắng sức"


def appointment(
    status: AppointmentStatus = AppointmentStatus.BOOKED, version: int = 1
) -> AppointmentOut:
    # 08:30 local is 01:30Z; the API hands times over already in the facility's zone.
    start = datetime(2030, 3, 4, 1, 30, tzinfo=UTC).astimezone(HCM)
    end = datetime(2030, 3, 4, 2, 0, tzinfo=UTC).astimezone(HCM)
    return AppointmentOut(
        id="3f1c2d4e-0000-4000-8000-000000000001",
        slot_id="p1_20300304T0130Z",
        patient=PersonRef(id="pat-1", full_name=PATIENT_NAME),
        practitioner=PersonRef(id="p1", full_name="Nguyễn Thị Hoa"),
        facility=FacilityRef(
            id="f1", code="C0", name="Bệnh viện Trung ương", level=FacilityLevel.CENTRAL
        ),
        start=start,
        end=end,
        mode=VisitMode.VIDEO,
        reason=REASON,
        status=status,
        booked_by=PersonRef(id="u1", full_name=PATIENT_NAME),
        booked_on_behalf=False,
        cancel_reason="Bận" if status == AppointmentStatus.CANCELLED else None,
        checked_in_at=None,
        room_id=None,
        version=version,
        created_at=NOW,
    )


def unfolded(data: bytes) -> bytes:
    """The file with folded lines joined, so a search cannot miss text split by a fold."""
    return data.replace(b"\r\n ", b"")


def only_event(data: bytes) -> Event:
    parsed = Calendar.from_ical(data)
    events = parsed.events
    assert len(events) == 1
    return events[0]


def test_the_event_is_at_the_local_time_with_its_time_zone() -> None:
    data = calendar.appointment_calendar(appointment(), "Asia/Ho_Chi_Minh", "vi", NOW)
    event = only_event(data)
    start = event.decoded("DTSTART")
    assert start.astimezone(UTC) == datetime(2030, 3, 4, 1, 30, tzinfo=UTC)
    assert start.astimezone(HCM).strftime("%H:%M") == "08:30"
    assert event["DTSTART"].params["TZID"] == "Asia/Ho_Chi_Minh"
    assert b"DTSTART;TZID=Asia/Ho_Chi_Minh:20300304T083000" in data
    assert b"DTEND;TZID=Asia/Ho_Chi_Minh:20300304T090000" in data
    zones = Calendar.from_ical(data).timezones
    assert [z["TZID"] for z in zones] == ["Asia/Ho_Chi_Minh"]


def test_uid_sequence_and_status_follow_the_appointment() -> None:
    appt = appointment(version=3)
    event = only_event(calendar.appointment_calendar(appt, "Asia/Ho_Chi_Minh", "en", NOW))
    assert str(event["UID"]) == f"{appt.id}@telehealth"
    assert event["SEQUENCE"] == 3
    assert event["STATUS"] == "CONFIRMED"
    cancelled = appointment(AppointmentStatus.CANCELLED, version=3)
    event = only_event(calendar.appointment_calendar(cancelled, "Asia/Ho_Chi_Minh", "en", NOW))
    assert event["STATUS"] == "CANCELLED"


def test_texts_follow_the_locale_and_carry_mode_and_reason_but_no_patient() -> None:
    appt = appointment()
    vi = calendar.appointment_calendar(appt, "Asia/Ho_Chi_Minh", "vi", NOW)
    en = calendar.appointment_calendar(appt, "Asia/Ho_Chi_Minh", "en", NOW)
    assert str(only_event(vi)["SUMMARY"]) == "Khám từ xa với BS Nguyễn Thị Hoa"
    assert str(only_event(en)["SUMMARY"]) == "Telehealth visit with Dr Nguyễn Thị Hoa"
    description = str(only_event(vi)["DESCRIPTION"])
    assert "Hình thức: Gọi video" in description  # the pages' words, not the code "video"
    assert "How: Video call" in str(only_event(en)["DESCRIPTION"])
    assert REASON in description
    assert calendar.reference(appt.id) in description
    for data in (vi, en):
        assert PATIENT_NAME.encode() not in unfolded(data)


def test_the_feed_says_only_telehealth_visit_mode_and_reference() -> None:
    visits = [appointment(), appointment(version=2)]
    data = calendar.feed_calendar(visits, "Asia/Ho_Chi_Minh", "en", NOW)
    parsed = Calendar.from_ical(data)
    assert len(parsed.events) == 2
    for event in parsed.events:
        assert str(event["SUMMARY"]) == "Telehealth visit (Video call)"
        assert calendar.reference(visits[0].id) in str(event["DESCRIPTION"])
    for secret in (PATIENT_NAME, REASON, "Nguyễn Thị Hoa"):
        assert secret.encode() not in unfolded(data)
    assert parsed.refresh_interval == calendar.FEED_REFRESH
    assert b"X-PUBLISHED-TTL:PT15M" in data


def test_an_empty_feed_is_still_a_valid_calendar() -> None:
    parsed = Calendar.from_ical(calendar.feed_calendar([], "Asia/Ho_Chi_Minh", "vi", NOW))
    assert parsed.events == []
    assert str(parsed["VERSION"]) == "2.0"


def test_feed_secrets_are_fresh_and_only_their_digest_is_kept() -> None:
    first, second = calendar.new_feed_secret(), calendar.new_feed_secret()
    assert first != second
    assert len(first) >= 40
    digest = calendar.feed_digest(first)
    assert len(digest) == 64
    assert first not in digest
    assert digest == calendar.feed_digest(first)
    assert digest != calendar.feed_digest(second)
