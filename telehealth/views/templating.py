"""Jinja2 environment of the server-rendered pages, with translations per request."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web

from telehealth import keys
from telehealth.auth.sessions import csrf_token_for, mask_csrf_token
from telehealth.db.base import utcnow
from telehealth.views.formats import Formats
from telehealth.views.i18n import SUPPORTED_LOCALES, locale_of

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "web" / "templates"
STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "static"
STATIC_ROUTE = "static"


def setup_templating(app: web.Application) -> None:
    """Install the Jinja2 environment (autoescaped, i18n extension) on the app."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_null_translations()  # type: ignore[attr-defined]
    env.globals["asset"] = _asset_urls(app)


def _asset_urls(app: web.Application) -> Any:
    # The versioned URL hashes the file; computing it once per asset keeps file reads
    # off the event loop after the first page (a restart picks up new assets).
    cache: dict[str, str] = {}

    def asset(path: str) -> str:
        if path not in cache:
            cache[path] = str(app.router[STATIC_ROUTE].url_for(filename=path))
        return cache[path]

    return asset


def page_context(request: web.Request) -> dict[str, Any]:
    """What every page may use: the caller, the language and the anti-forgery token.

    Built at render time rather than by a context-processor middleware, so pages
    rendered for errors raised by outer middlewares (auth, CSRF) get it too.
    """
    principal = request.get(keys.PRINCIPAL)
    csrf = (
        mask_csrf_token(csrf_token_for(request.app[keys.SETTINGS].secret_key, principal.session_id))
        if principal
        else ""
    )
    return {
        "principal": principal,
        "roles": frozenset(r.value for r in principal.roles) if principal else frozenset(),
        "locale": locale_of(request),
        "locales": SUPPORTED_LOCALES,
        "csrf_token": csrf,
        "request_path": request.path,
        # Ages on the pages count to this local date.
        "today": utcnow().astimezone(ZoneInfo(request.app[keys.SETTINGS].default_timezone)).date(),
    }


def render_page(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """Render a page in the request's language."""
    translations = request.app[keys.CATALOGUES].get(locale_of(request))
    # Jinja's i18n callables are looked up in the render context, so per-request
    # translations are passed there instead of mutating the shared environment.
    context = {
        **page_context(request),
        **context,
        **Formats(locale_of(request)).helpers(),
        "gettext": translations.gettext,
        "ngettext": translations.ngettext,
        "_": translations.gettext,
    }
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = locale_of(request)
    return response


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message
