"""No English in a Vietnamese page: every page each role reaches, read in Vietnamese, holds
none of the English messages the catalogue translates, and no raw code of an enumeration
(an error code, a status, a file kind) where a person would read words."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache

import pytest
from babel.messages.pofile import read_po

from telehealth.accounts.models import FacilityLevel, Role
from telehealth.consults.inspection import Kind
from telehealth.consults.models import ConsultStatus, Disposition, Urgency
from telehealth.errors import ErrorCode
from telehealth.rooms.models import RoomKind, RoomState
from telehealth.scheduling.models import AppointmentStatus, VisitMode
from telehealth.views.i18n import TRANSLATIONS_DIR
from tests.support.crawl import CRAWLED_USERS, Crawl
from tests.support.network import USERS

pytestmark = pytest.mark.asyncio(loop_scope="session")

ENUMS: tuple[type[StrEnum], ...] = (
    AppointmentStatus,
    VisitMode,
    ConsultStatus,
    Disposition,
    Urgency,
    Kind,
    ErrorCode,
    Role,
    FacilityLevel,
    RoomKind,
    RoomState,
)
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")
# Data of the test network and words both languages write alike, never a leak.
NAMES = [name.replace("_", " ").title() for name in USERS] + ["Telehealth", "English"]
USERNAMES = [*USERS, "patient_self"]


@cache
def english_phrases() -> list[str]:
    """English text of every message whose Vietnamese differs: whole short messages, and
    the wording between the placeholders of longer ones."""
    with (TRANSLATIONS_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po)
    phrases: set[str] = set()
    for message in catalogue:
        if not message.id or not message.string or message.id == message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for text in ids:
            parts = [p.strip(" .:,;()") for p in _PLACEHOLDER.split(text)]
            phrases.update(p for p in parts if len(p) >= 4 or (p == text and len(p) >= 3))
    return sorted(phrases, key=len, reverse=True)


@cache
def vietnamese_words() -> set[str]:
    """Words the Vietnamese catalogue itself uses (e.g. "video"): allowed in a page."""
    with (TRANSLATIONS_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po)
    words: set[str] = set()
    for message in catalogue:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            words.update(re.findall(r"\w+", text or ""))
    return words


def english_in(text: str) -> list[str]:
    """The English messages and enumeration codes found in `text`."""
    for name in NAMES:
        text = text.replace(name, " ")
    for username in USERNAMES:
        text = re.sub(rf"(?<!\w){username}(?!\w)", " ", text)
    found = [
        phrase
        for phrase in english_phrases()
        if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text)
    ]
    codes = {
        code
        for enum in ENUMS
        for member in enum
        for code in (member.value, member.name)
        if code not in vietnamese_words() and len(code) > 2
    }
    # Not inside a path or a file name ("ket-qua.pdf").
    found += sorted(c for c in codes if re.search(rf"(?<![\w/.-]){re.escape(c)}(?![\w/-])", text))
    return found


async def test_the_check_finds_english() -> None:
    assert "Sign out" in english_in("Xin chào\nSign out")
    assert "not_found" in english_in("Lỗi 404 (not_found)")
    assert "IMAGE" in english_in("tim.jpg IMAGE 2 KB")
    assert english_in("Đăng xuất Doctor A Hình ảnh ket-qua.pdf doctor_a") == []


@pytest.mark.parametrize("username", CRAWLED_USERS)
async def test_vietnamese_pages_hold_no_english(
    crawls: dict[tuple[str, str], Crawl], username: str
) -> None:
    leaks = {v.path: found for v in crawls[username, "vi"].visits if (found := english_in(v.text))}
    assert not leaks, "English in Vietnamese pages:\n" + "\n".join(
        f"{path}: {found}" for path, found in leaks.items()
    )
