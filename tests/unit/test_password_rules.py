"""New passwords: common ones and ones built from the account's own words are refused."""

from __future__ import annotations

import pytest

from telehealth.auth.password_rules import check_new_password, context_words
from telehealth.errors import InvalidInput

CONTEXT = ("doctor_a", "Nguyễn Văn An", "Bệnh viện huyện Mường Tè", "D1")


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaa",
        "1234567890",
        "password12",
        "qwertyuiop",
        "doctor_aqx",
        "doctor_a2024",
        "nguyenvanan1990",
        "Nguyễn Văn An 1",
        "benhvienmuongte",
        "muongte2024",
        "telehealth123",
    ],
)
async def test_common_and_context_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await check_new_password(password, *CONTEXT)
    assert refused.value.extra["errors"][0]["type"] == "weak_password"


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",
        "mưa rào trên đồi chè xanh",
        "Lò Văn Páo ăn cơm lam!",
        "x" * 3 + "v9#Lq!2mZ" * 30,
    ],
)
async def test_passphrases_pass(password: str) -> None:
    await check_new_password(password, *CONTEXT)


def test_context_words_drop_diacritics_and_join_adjacent_words() -> None:
    words = context_words("Bệnh viện huyện Mường Tè")
    assert {"muongte", "benhvien", "mường", "muong", "telehealth"} <= set(words)
