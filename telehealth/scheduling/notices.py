"""The texts patients receive about their appointments, in their language, as outbox
messages: a confirmation, reminders before the visit, and notices of changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telehealth.outbox.models import Channel
from telehealth.outbox.writer import Message

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "booked.subject": "Xác nhận lịch khám từ xa",
        "booked.body": (
            "Lịch khám {mode} với {doctor} lúc {when} ({facility}) đã được đặt. Mã lịch hẹn: {ref}."
        ),
        "reminder.subject": "Nhắc lịch khám từ xa",
        "reminder.body": (
            "Nhắc lịch: khám {mode} với {doctor} lúc {when}. "
            "Vui lòng vào phòng chờ trước giờ khám vài phút. Mã lịch hẹn: {ref}."
        ),
        "rescheduled.subject": "Lịch khám từ xa đã được đổi",
        "rescheduled.body": "Lịch khám với {doctor} đã được đổi sang {when}. Mã lịch hẹn: {ref}.",
        "cancelled.subject": "Lịch khám từ xa đã bị hủy",
        "cancelled.body": "Lịch khám với {doctor} lúc {when} đã bị hủy. Lý do: {reason}.",
        "video": "video",
        "audio": "qua điện thoại (âm thanh)",
    },
    "en": {
        "booked.subject": "Your remote appointment is booked",
        "booked.body": (
            "Your {mode} visit with {doctor} at {when} ({facility}) is booked. Reference: {ref}."
        ),
        "reminder.subject": "Reminder: remote appointment",
        "reminder.body": (
            "Reminder: {mode} visit with {doctor} at {when}. "
            "Please enter the waiting room a few minutes early. Reference: {ref}."
        ),
        "rescheduled.subject": "Your remote appointment has moved",
        "rescheduled.body": "Your visit with {doctor} has moved to {when}. Reference: {ref}.",
        "cancelled.subject": "Your remote appointment is cancelled",
        "cancelled.body": "Your visit with {doctor} at {when} is cancelled. Reason: {reason}.",
        "video": "video",
        "audio": "audio-only",
    },
}


@dataclass(frozen=True)
class Visit:
    """What the texts need to know about one appointment."""

    appointment_id: str
    version: int
    start: datetime
    mode: str
    doctor: str
    facility: str
    timezone: str


@dataclass(frozen=True)
class Contact:
    """Where a patient can be reached, and in which language."""

    email: str | None
    phone: str | None
    locale: str
    user_id: str | None


def _when(visit: Visit, locale: str) -> str:
    local = visit.start.astimezone(ZoneInfo(visit.timezone))
    pattern = "%H:%M ngày %d/%m/%Y" if locale == "vi" else "%H:%M on %d %b %Y"
    return local.strftime(pattern)


def _render(kind: str, visit: Visit, locale: str, reason: str = "") -> tuple[str, str]:
    texts = TEXTS.get(locale, TEXTS["vi"])
    body = texts[f"{kind}.body"].format(
        mode=texts[visit.mode],
        doctor=visit.doctor,
        when=_when(visit, locale),
        facility=visit.facility,
        ref=visit.appointment_id[:8].upper(),
        reason=reason or "-",
    )
    return texts[f"{kind}.subject"], body


def _to_each_channel(
    kind: str, key: str, visit: Visit, contact: Contact, due: datetime, reason: str = ""
) -> list[Message]:
    subject, body = _render(kind, visit, contact.locale, reason)
    routes = [(Channel.EMAIL, contact.email), (Channel.SMS, contact.phone)]
    return [
        Message(
            dedupe_key=f"{key}:{channel.value}",
            channel=channel,
            recipient=address,
            subject=subject,
            body=body,
            locale=contact.locale,
            topic=f"appointment.{kind}" if kind != "reminder" else "appointment.reminder",
            due_at=due,
            object_type="appointment",
            object_id=visit.appointment_id,
            recipient_user_id=contact.user_id,
        )
        for channel, address in routes
        if address
    ]


def booking_messages(
    visit: Visit, contact: Contact, now: datetime, offsets: tuple[timedelta, ...], kind: str
) -> list[Message]:
    """A confirmation (or change notice) now, and each reminder still in the future."""
    base = f"appointment:{visit.appointment_id}:v{visit.version}"
    messages = _to_each_channel(kind, f"{base}:{kind}", visit, contact, now)
    for offset in offsets:
        due = visit.start - offset
        if due > now:
            minutes = int(offset.total_seconds() // 60)
            messages += _to_each_channel(
                "reminder", f"{base}:reminder:{minutes}m", visit, contact, due
            )
    return messages


def cancellation_messages(
    visit: Visit, contact: Contact, now: datetime, reason: str
) -> list[Message]:
    """A cancellation notice, sent now."""
    key = f"appointment:{visit.appointment_id}:v{visit.version}:cancelled"
    return _to_each_channel("cancelled", key, visit, contact, now, reason)
