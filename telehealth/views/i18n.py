"""Vietnamese and English: Babel catalogues and choosing the locale of a request."""

from __future__ import annotations

import io
from pathlib import Path

from aiohttp import web
from babel import Locale, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from telehealth import keys

SUPPORTED_LOCALES = ("vi", "en")
TRANSLATIONS_DIR = Path(__file__).resolve().parents[2] / "web" / "translations"


class Catalogues:
    """Compiled translations per locale, built from the `.po` files at startup."""

    def __init__(self, directory: Path = TRANSLATIONS_DIR) -> None:
        self._translations: dict[str, NullTranslations] = {}
        for locale in SUPPORTED_LOCALES:
            po_path = directory / locale / "LC_MESSAGES" / "messages.po"
            self._translations[locale] = (
                _compile(po_path) if po_path.exists() else (NullTranslations())
            )

    def get(self, locale: str) -> NullTranslations:
        """The translations of `locale` (English source strings if unknown)."""
        return self._translations.get(locale) or NullTranslations()

    def gettext(self, locale: str, message: str) -> str:
        """Translate one message."""
        return self.get(locale).gettext(message)


def _compile(po_path: Path) -> Translations:
    with po_path.open("rb") as fh:
        catalog = read_po(fh)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def choose_locale(user_locale: str | None, accept_language: str | None, default: str = "vi") -> str:
    """The user's setting, then the browser's Accept-Language, then the default."""
    if user_locale in SUPPORTED_LOCALES:
        return user_locale
    if accept_language:
        wanted = []
        for part in accept_language.split(","):
            tag, _, q = part.strip().partition(";q=")
            try:
                weight = float(q) if q else 1.0
            except ValueError:
                weight = 0.0
            if tag and weight > 0:
                wanted.append((weight, tag.strip().replace("-", "_")))
        ordered = [tag for _, tag in sorted(wanted, key=lambda w: -w[0])]
        match = negotiate_locale(ordered, list(SUPPORTED_LOCALES), sep="_")
        if match:
            return match
    return default if default in SUPPORTED_LOCALES else "vi"


LANGUAGE_COOKIE = "th_lang"  # set by POST /language (telehealth.pages.language)


def request_locale(request: web.Request) -> str:
    """The language of a request: `?lang=`, the user's setting, the language-switch
    cookie, then Accept-Language, then the configured default."""
    principal = request.get(keys.PRINCIPAL)
    candidates = (
        request.query.get("lang") if request.method == "GET" else None,
        principal.locale if principal else None,
        request.cookies.get(LANGUAGE_COOKIE),
    )
    return choose_locale(
        next((c for c in candidates if c in SUPPORTED_LOCALES), None),
        request.headers.get("Accept-Language"),
        request.app[keys.SETTINGS].default_locale,
    )


def locale_of(request: web.Request) -> str:
    """The locale chosen for this request (set by the locale middleware)."""
    locale = request.get(keys.LOCALE)
    return locale if isinstance(locale, str) else "vi"


def display_name(locale: str) -> str:
    """The locale's own name, for the language switcher."""
    return Locale.parse(locale).get_display_name(locale) or locale
