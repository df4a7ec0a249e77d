"""Messages about consults to doctors and specialists, in their language."""

from __future__ import annotations

from datetime import datetime

from telehealth.accounts.models import User
from telehealth.outbox.models import Channel
from telehealth.outbox.writer import Message

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "vi": {
        "info_requested": (
            "Yêu cầu bổ sung thông tin hội chẩn",
            "Chuyên gia cần thêm thông tin cho yêu cầu hội chẩn {ref}: {detail}",
        ),
        "answered": (
            "Đã có ý kiến hội chẩn",
            "Yêu cầu hội chẩn {ref} đã có ý kiến chuyên môn (phiên bản {detail}).",
        ),
        "declined": ("Yêu cầu hội chẩn bị từ chối", "Yêu cầu hội chẩn {ref} bị từ chối: {detail}"),
        "session_scheduled": (
            "Hẹn phiên hội chẩn trực tuyến",
            "Phiên hội chẩn trực tuyến cho yêu cầu {ref} được hẹn lúc {detail}.",
        ),
        "overdue": (
            "Yêu cầu hội chẩn quá hạn",
            "Yêu cầu hội chẩn {ref} ({detail}) đã quá hạn trả lời. Vui lòng xử lý ngay.",
        ),
    },
    "en": {
        "info_requested": (
            "More information needed for a consult",
            "The specialist needs more information for consult {ref}: {detail}",
        ),
        "answered": (
            "Consult answered",
            "Consult {ref} has a specialist opinion (version {detail}).",
        ),
        "declined": ("Consult declined", "Consult {ref} was declined: {detail}"),
        "session_scheduled": (
            "Live consult session scheduled",
            "The live session of consult {ref} is set for {detail}.",
        ),
        "overdue": (
            "Consult overdue",
            "Consult {ref} ({detail}) is past its response deadline. Please act now.",
        ),
    },
}


def consult_messages(
    kind: str,
    key: str,
    consult_id: str,
    users: list[User],
    now: datetime,
    detail: str,
    default_locale: str,
) -> list[Message]:
    """One message per user and channel they can be reached on, deduplicated by `key`."""
    out = []
    for user in users:
        locale = user.locale or default_locale
        subject, body = TEXTS.get(locale, TEXTS["vi"])[kind]
        text = body.format(ref=consult_id[:8].upper(), detail=detail)
        for channel, address in ((Channel.EMAIL, user.email), (Channel.SMS, user.phone)):
            if address:
                out.append(
                    Message(
                        dedupe_key=f"{key}:{user.id}:{channel.value}",
                        channel=channel,
                        recipient=address,
                        subject=subject,
                        body=text,
                        locale=locale,
                        topic=f"consult.{kind}",
                        due_at=now,
                        object_type="consult",
                        object_id=consult_id,
                        recipient_user_id=user.id,
                    )
                )
    return out
