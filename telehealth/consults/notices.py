"""Messages about consults to doctors and specialists, in their language.

E-mail and SMS leave the system: they name a consult and what happened to it, never
clinical text (the question asked, a reason, the patient); the reader signs in for that.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from telehealth.accounts.models import User
from telehealth.outbox.models import Channel
from telehealth.outbox.writer import Message

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "vi": {
        "info_requested": (
            "Yêu cầu bổ sung thông tin hội chẩn",
            "Chuyên gia cần thêm thông tin cho yêu cầu hội chẩn {ref}. "
            "Vui lòng đăng nhập để xem câu hỏi và trả lời.",
        ),
        "answered": (
            "Đã có ý kiến hội chẩn",
            "Yêu cầu hội chẩn {ref} đã có ý kiến chuyên môn (phiên bản {detail}).",
        ),
        "declined": (
            "Yêu cầu hội chẩn bị từ chối",
            "Yêu cầu hội chẩn {ref} bị từ chối. Vui lòng đăng nhập để xem lý do.",
        ),
        "session_scheduled": (
            "Hẹn phiên hội chẩn trực tuyến",
            "Phiên hội chẩn trực tuyến cho yêu cầu {ref} được hẹn lúc {detail}.",
        ),
        "overdue": (
            "Yêu cầu hội chẩn quá hạn",
            "Yêu cầu hội chẩn {ref} ({detail}) đã quá hạn trả lời. Vui lòng xử lý ngay.",
        ),
        "new_request": (
            "Yêu cầu hội chẩn mới",
            "Có yêu cầu hội chẩn mới {ref} ({detail}) đang chờ chuyên gia trả lời.",
        ),
        "assigned": (
            "Bạn được mời tham gia hội chẩn",
            "Đồng nghiệp đã giao cho bạn yêu cầu hội chẩn {ref} ({detail}).",
        ),
        "escalated": (
            "Yêu cầu hội chẩn được nâng mức khẩn",
            "Yêu cầu hội chẩn {ref} được nâng lên mức {detail} và đang chờ chuyên gia trả lời.",
        ),
        "info_provided": (
            "Đã bổ sung thông tin hội chẩn",
            "Bác sĩ yêu cầu đã bổ sung thông tin cho yêu cầu hội chẩn {ref} (phiên bản {detail}).",
        ),
    },
    "en": {
        "info_requested": (
            "More information needed for a consult",
            "The specialist needs more information for consult {ref}. "
            "Please sign in to read the question and answer it.",
        ),
        "answered": (
            "Consult answered",
            "Consult {ref} has a specialist opinion (version {detail}).",
        ),
        "declined": (
            "Consult declined",
            "Consult {ref} was declined. Please sign in to read the reason.",
        ),
        "session_scheduled": (
            "Live consult session scheduled",
            "The live session of consult {ref} is set for {detail}.",
        ),
        "overdue": (
            "Consult overdue",
            "Consult {ref} ({detail}) is past its response deadline. Please act now.",
        ),
        "new_request": (
            "New consult request",
            "A new consult request {ref} ({detail}) is waiting for a specialist.",
        ),
        "assigned": (
            "A consult was handed to you",
            "A colleague gave you consult {ref} ({detail}).",
        ),
        "escalated": (
            "Consult raised in urgency",
            "Consult {ref} was raised to {detail} and is waiting for a specialist.",
        ),
        "info_provided": (
            "Consult information added",
            "The requesting doctor added the information asked for on consult {ref} "
            "(version {detail}).",
        ),
    },
}

# How an urgency reads inside a message; the code itself where a locale lacks it.
URGENCY_WORDS: dict[str, dict[str, str]] = {
    "vi": {"routine": "thường quy", "urgent": "khẩn", "emergency": "cấp cứu"},
    "en": {"routine": "routine", "urgent": "urgent", "emergency": "emergency"},
}


def urgency_word(urgency: str) -> Callable[[str], str]:
    """The detail of a message naming an urgency, in each recipient's language."""
    return lambda locale: URGENCY_WORDS.get(locale, URGENCY_WORDS["vi"]).get(urgency, urgency)


def consult_messages(
    kind: str,
    key: str,
    consult_id: str,
    users: list[User],
    now: datetime,
    detail: str | Callable[[str], str],
    default_locale: str,
) -> list[Message]:
    """One message per user and channel they can be reached on, deduplicated by `key`
    (`detail` may depend on the recipient's language)."""
    out = []
    for user in users:
        locale = user.locale or default_locale
        subject, body = TEXTS.get(locale, TEXTS["vi"])[kind]
        said = detail(locale) if callable(detail) else detail
        text = body.format(ref=consult_id[:8].upper(), detail=said)
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
