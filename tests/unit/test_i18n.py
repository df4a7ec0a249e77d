"""The page catalogues: every marked string has a Vietnamese translation that fits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from telehealth.errors import ErrorCode
from telehealth.views import pages_errors
from telehealth.views.i18n import TRANSLATIONS_DIR, Catalogues

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_RE = re.compile(r"%\(\w+\)[sd]")


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    """Every message id marked in the templates and the Python sources."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)  # type: ignore[no-untyped-call]
    found = extract_from_dir(str(ROOT), method_map, options_map)
    return {message if isinstance(message, str) else message[0] for *_, message, _, _ in found}


def singular(message_id: str | tuple[str, ...]) -> str:
    """A plural entry is known by its singular id, as extraction reports it."""
    return message_id if isinstance(message_id, str) else message_id[0]


def is_translated(message_string: str | tuple[str, ...] | None) -> bool:
    """Every form of a plural entry must be filled in."""
    if isinstance(message_string, tuple | list):
        return all(message_string)
    return bool(message_string)


def catalog(locale: str) -> Catalog:
    with (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh)


def test_every_marked_string_is_translated_to_vietnamese(extracted: set[str]) -> None:
    vi = catalog("vi")
    translated = {singular(m.id) for m in vi if m.id and is_translated(m.string)}
    untranslated = sorted(extracted - translated)
    assert untranslated == []
    assert "Sign in" in extracted  # the extraction itself found the templates


def test_catalogues_hold_no_stale_or_fuzzy_entries(extracted: set[str]) -> None:
    for locale in ("vi", "en"):
        ids = {singular(m.id) for m in catalog(locale) if m.id}
        assert ids == extracted, locale
        assert not [m.id for m in catalog(locale) if m.id and m.fuzzy], locale


def test_vietnamese_keeps_every_placeholder() -> None:
    for message in catalog("vi"):
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else message.id
        strings = (message.string,) if isinstance(message.string, str) else message.string
        # Vietnamese has one plural form; it carries the plural id's placeholders.
        wanted = sorted(PLACEHOLDER_RE.findall(ids[-1]))
        for text in strings:
            assert sorted(PLACEHOLDER_RE.findall(str(text))) == wanted, message.id


def test_compiled_catalogues_translate_with_diacritics() -> None:
    catalogues = Catalogues()
    assert catalogues.gettext("vi", "Sign in") == "Đăng nhập"
    assert catalogues.gettext("vi", "Patient") == "Bệnh nhân"
    assert catalogues.gettext("en", "Sign in") == "Sign in"


def test_every_error_code_has_a_page_title() -> None:
    assert set(pages_errors.TITLES) == set(ErrorCode)
