"""What trainees receive about a session they enrolled in, in their language, as outbox
messages: a confirmation, reminders before the start, and a notice if it is cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from telehealth.outbox.models import Channel
from telehealth.outbox.writer import Message

__all__ = [
    "OBJECT_TYPE",
    "REMINDER_TOPIC",
    "Lesson",
    "Trainee",
    "cancellation_messages",
    "enrolment_messages",
]

REMINDER_TOPIC: Final = "teaching.reminder"
OBJECT_TYPE: Final = "teaching_enrolment"

TEXTS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "enrolled.subject": "Xác nhận đăng ký buổi đào tạo từ xa",
        "enrolled.body": "Bạn đã đăng ký buổi đào tạo \u201c{title}\u201d lúc {when}.",
        "reminder.subject": "Nhắc lịch buổi đào tạo từ xa",
        "reminder.body": (
            "Nhắc lịch: buổi đào tạo \u201c{title}\u201d bắt đầu lúc {when}. "
            "Vào phòng học từ trang Đào tạo vài phút trước giờ bắt đầu."
        ),
        "cancelled.subject": "Buổi đào tạo từ xa đã bị hủy",
        "cancelled.body": "Buổi đào tạo \u201c{title}\u201d lúc {when} đã bị hủy.",
    },
    "en": {
        "enrolled.subject": "You are enrolled in a remote teaching session",
        "enrolled.body": "You are enrolled in the teaching session \u201c{title}\u201d at {when}.",
        "reminder.subject": "Reminder: remote teaching session",
        "reminder.body": (
            "Reminder: the teaching session \u201c{title}\u201d starts at {when}. "
            "Enter the room from the Teaching page a few minutes early."
        ),
        "cancelled.subject": "A remote teaching session is cancelled",
        "cancelled.body": "The teaching session \u201c{title}\u201d at {when} is cancelled.",
    },
}


@dataclass(frozen=True)
class Trainee:
    """Where a trainee can be reached, and in which language."""

    user_id: str
    email: str | None
    phone: str | None
    locale: str


@dataclass(frozen=True)
class Lesson:
    """What the texts say about a session."""

    enrolment_id: str
    title: str
    start: datetime
    timezone: str


def _messages(kind: str, key: str, lesson: Lesson, who: Trainee, due: datetime) -> list[Message]:
    texts = TEXTS.get(who.locale, TEXTS["vi"])
    local = lesson.start.astimezone(ZoneInfo(lesson.timezone))
    when = local.strftime("%H:%M ngày %d/%m/%Y" if who.locale == "vi" else "%H:%M on %d %b %Y")
    body = texts[f"{kind}.body"].format(title=lesson.title, when=when)
    routes = [(Channel.EMAIL, who.email), (Channel.SMS, who.phone)]
    return [
        Message(
            dedupe_key=f"{key}:{channel.value}",
            channel=channel,
            recipient=address,
            subject=texts[f"{kind}.subject"],
            body=body,
            locale=who.locale,
            topic=f"teaching.{kind}",
            due_at=due,
            object_type=OBJECT_TYPE,
            object_id=lesson.enrolment_id,
            recipient_user_id=who.user_id,
        )
        for channel, address in routes
        if address
    ]


def enrolment_messages(
    lesson: Lesson, who: Trainee, now: datetime, offsets: tuple[timedelta, ...], round_: str
) -> list[Message]:
    """A confirmation now and each reminder still in the future; `round_` tells one
    enrolment from a later one after a cancellation."""
    base = f"teaching:{lesson.enrolment_id}:{round_}"
    messages = _messages("enrolled", f"{base}:enrolled", lesson, who, now)
    for offset in offsets:
        due = lesson.start - offset
        if due > now:
            minutes = int(offset.total_seconds() // 60)
            messages += _messages("reminder", f"{base}:reminder:{minutes}m", lesson, who, due)
    return messages


def cancellation_messages(lesson: Lesson, who: Trainee, now: datetime) -> list[Message]:
    """A notice that the session will not take place."""
    return _messages("cancelled", f"teaching:{lesson.enrolment_id}:cancelled", lesson, who, now)
