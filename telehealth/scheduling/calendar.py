"""iCalendar (RFC 5545) files: one appointment for its parties, and a practitioner's feed.

Times carry the facility's TZID (Asia/Ho_Chi_Minh by default) together with a VTIMEZONE
that icalendar builds from the IANA database, so a visit at 08:30 in Hà Nội shows at
08:30 there whatever zone the device is set to. The event UID is `<appointment id>@telehealth`
in both files, so a visit imported once and later seen through the feed stays one event;
SEQUENCE is the appointment's version, which grows with each reschedule.

A feed URL is a bearer secret that ends up in third-party calendar services, so feed
events say only "telehealth visit", the mode and the short appointment reference: no
names, no reason for the visit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vDuration
from icalendar.enums import CLASS, STATUS

from telehealth.scheduling.models import AppointmentStatus
from telehealth.scheduling.schemas import AppointmentOut
from telehealth.views.i18n import SUPPORTED_LOCALES, Catalogues
from telehealth.views.templating import N_

PRODID = "-//telehealth//telehealth calendar 1.0//VI"
UID_DOMAIN = "telehealth"
FEED_REFRESH = timedelta(minutes=15)

# Everything the files say comes from the pages' catalogues (web/translations), like the
# pages themselves; the visit's mode in the same words as the appointment page.
TEXTS: Final = {
    "summary": N_("Telehealth visit with Dr %(doctor)s"),
    "feed.summary": N_("Telehealth visit (%(mode)s)"),
    "feed.name": N_("Telehealth visits"),
    "mode": N_("How"),
    "reason": N_("Reason"),
    "facility": N_("Facility"),
    "ref": N_("Appointment reference"),
    "cancelled": N_("Reason for cancelling"),
    "video": N_("Video call"),
    "audio": N_("Audio call only"),
}


@cache
def _catalogues() -> Catalogues:
    return Catalogues()


def new_feed_secret() -> str:
    """A fresh feed secret (256 bits): the last path segment of the feed URL."""
    return secrets.token_urlsafe(32)


def feed_digest(secret: str) -> str:
    """What is stored of a feed secret: its SHA-256, so a database leak leaks no feed."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def event_uid(appointment_id: str) -> str:
    """The stable UID of an appointment's event, the same in every file."""
    return f"{appointment_id}@{UID_DOMAIN}"


def reference(appointment_id: str) -> str:
    """The short reference patients also see in their messages."""
    return appointment_id[:8].upper()


def event_status(status: AppointmentStatus) -> STATUS:
    """Only a cancellation frees the time; every other state keeps it reserved."""
    return STATUS.CANCELLED if status == AppointmentStatus.CANCELLED else STATUS.CONFIRMED


def _texts(locale: str) -> dict[str, str]:
    translations = _catalogues().get(locale if locale in SUPPORTED_LOCALES else "vi")
    return {key: translations.gettext(text) for key, text in TEXTS.items()}


def _calendar() -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    return calendar


def _event(appt: AppointmentOut, tz: ZoneInfo, now: datetime, summary: str, text: str) -> Event:
    return Event.new(
        uid=event_uid(appt.id),
        start=appt.start.astimezone(tz),
        end=appt.end.astimezone(tz),
        stamp=now,
        sequence=appt.version,
        status=event_status(appt.status),
        classification=CLASS.PRIVATE,
        summary=summary,
        description=text,
    )


def _finish(calendar: Calendar) -> bytes:
    # Adds one VTIMEZONE per TZID the events use, from the IANA rules.
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data


def appointment_calendar(appt: AppointmentOut, timezone: str, locale: str, now: datetime) -> bytes:
    """The `.ics` of one appointment, for its parties: doctor, mode, reason; no patient data."""
    texts = _texts(locale)
    lines = [
        f"{texts['mode']}: {texts[appt.mode.value]}",
        f"{texts['reason']}: {appt.reason}",
        f"{texts['facility']}: {appt.facility.name}",
        f"{texts['ref']}: {reference(appt.id)}",
    ]
    if appt.status == AppointmentStatus.CANCELLED:
        lines.insert(0, f"{texts['cancelled']}: {appt.cancel_reason or '-'}")
    calendar = _calendar()
    summary = texts["summary"] % {"doctor": appt.practitioner.full_name}
    calendar.add_component(_event(appt, ZoneInfo(timezone), now, summary, "\n".join(lines)))
    return _finish(calendar)


def feed_calendar(appts: list[AppointmentOut], timezone: str, locale: str, now: datetime) -> bytes:
    """A practitioner's feed: only "telehealth visit", the mode and the reference."""
    texts = _texts(locale)
    tz = ZoneInfo(timezone)
    calendar = _calendar()
    calendar.calendar_name = texts["feed.name"]
    # RFC 7986 asks for VALUE=DURATION; Outlook and Google read X-PUBLISHED-TTL.
    calendar.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(FEED_REFRESH))
    for appt in appts:
        mode = texts[appt.mode.value]
        text = f"{texts['mode']}: {mode}\n{texts['ref']}: {reference(appt.id)}"
        summary = texts["feed.summary"] % {"mode": mode}
        calendar.add_component(_event(appt, tz, now, summary, text))
    return _finish(calendar)
