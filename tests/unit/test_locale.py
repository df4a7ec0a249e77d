"""Choosing the language of a request."""

from __future__ import annotations

import pytest

from telehealth.views.i18n import choose_locale


@pytest.mark.parametrize(
    ("user", "header", "expected"),
    [
        ("en", "vi-VN,vi;q=0.9", "en"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "fr-FR,en;q=0.5,vi;q=0.8", "vi"),
        (None, "fr-FR", "vi"),
        (None, None, "vi"),
        (None, "en;q=abc", "vi"),
        ("xx", "en", "en"),
    ],
)
def test_user_setting_then_accept_language_then_vietnamese(
    user: str | None, header: str | None, expected: str
) -> None:
    assert choose_locale(user, header) == expected
