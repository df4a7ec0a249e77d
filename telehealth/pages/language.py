"""The language switch: remembered in the account, or in a cookie for anonymous visitors."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.errors import InvalidInput
from telehealth.pages.forms import PageQuery, local_path, read_form, see_other
from telehealth.views.i18n import LANGUAGE_COOKIE, SUPPORTED_LOCALES
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_

routes = Routes("pages")

# The locale middleware reads this cookie (after `?lang=` and the account's setting).
ONE_YEAR = 365 * 24 * 3600
UNKNOWN_LANGUAGE = N_("Choose Vietnamese or English.")


@routes.post("/language", summary="Choose the language", page=True, public=True, query=PageQuery)
async def language_submit(call: Call[None, PageQuery]) -> web.Response:
    """Save the language (account and cookie), then go back to the page it was chosen on."""
    form = await read_form(call.request)  # signed-in callers must send the CSRF token
    lang = form.get("lang", "")
    if lang not in SUPPORTED_LOCALES:
        raise InvalidInput(UNKNOWN_LANGUAGE)
    principal = call.request.get(keys.PRINCIPAL)
    if principal is not None:
        await call.request.app[keys.ACCOUNTS].update_me(
            principal, call.audit, s.MeUpdate.model_validate({"locale": lang})
        )
    response = see_other(_back(form.get("next")))
    # Also kept for signed-in users, so the choice survives signing out.
    response.set_cookie(
        LANGUAGE_COOKIE,
        lang,
        max_age=ONE_YEAR,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=call.request.app[keys.SETTINGS].secure_cookies,
    )
    return response


def _back(target: str | None) -> str:
    # A `lang` left in the query would override the choice just made.
    url = URL(local_path(target))
    return str(url.with_query({k: v for k, v in url.query.items() if k != "lang"}))
