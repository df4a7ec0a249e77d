"""Self-registration that reveals nothing about existing accounts.

The answer to a registration is the same whether the username was free or taken;
what happened is told out of band, to the phone and e-mail the registrant gave, as
outbox messages. No message names anything but the username the registrant chose.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Final

from telehealth.outbox.models import Channel
from telehealth.outbox.writer import Message

__all__ = ["REGISTRATION_RECEIVED", "registration_notice"]

REGISTRATION_RECEIVED: Final = (
    "Registration received. We have sent a message to the phone number (and e-mail) you "
    "gave; follow it to sign in."
)

TEXTS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "created.subject": "Tài khoản Telehealth đã sẵn sàng",
        "created.body": "Tài khoản {username} đã được tạo. Bạn có thể đăng nhập ngay.",
        "taken.subject": "Đăng ký Telehealth chưa thành công",
        "taken.body": (
            "Có người (có thể là bạn) vừa đăng ký tên đăng nhập {username} với số này, "
            "nhưng tên đó đã được dùng. Hãy đăng ký lại với tên khác."
        ),
    },
    "en": {
        "created.subject": "Your Telehealth account is ready",
        "created.body": "The account {username} has been created. You can sign in now.",
        "taken.subject": "Telehealth registration not completed",
        "taken.body": (
            "Someone (perhaps you) tried to register the username {username} with this "
            "number, but it is already in use. Please register again with another one."
        ),
    },
}


def registration_notice(
    outcome: str,
    username: str,
    phone: str | None,
    email: str | None,
    locale: str,
    now: datetime,
) -> list[Message]:
    """The messages telling a registrant the outcome (`created` or `taken`)."""
    texts = TEXTS.get(locale, TEXTS["vi"])
    body = texts[f"{outcome}.body"].format(username=username)
    routes = [(Channel.SMS, phone), (Channel.EMAIL, email)]
    # One message per outcome, username and address: repeating a registration (or
    # flooding someone's phone with attempts) queues nothing new.
    return [
        Message(
            dedupe_key=_key(outcome, username, address, channel),
            channel=channel,
            recipient=address,
            subject=texts[f"{outcome}.subject"],
            body=body,
            locale=locale,
            topic=f"registration.{outcome}",
            due_at=now,
        )
        for channel, address in routes
        if address
    ]


def _key(outcome: str, username: str, address: str, channel: Channel) -> str:
    digest = hashlib.sha256(f"{username}\0{address}".encode()).hexdigest()[:32]
    return f"registration:{outcome}:{digest}:{channel.value}"
