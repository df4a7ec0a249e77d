"""Sign-in, sign-out and patient self-registration pages."""

from __future__ import annotations

from typing import Any

import pydantic
from aiohttp import web

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.auth.service import AuthService
from telehealth.auth.views import set_session_cookie
from telehealth.errors import InvalidCredentials, InvalidInput, RateLimited
from telehealth.pages.forms import (
    FormState,
    PageQuery,
    form_failure,
    local_path,
    parse_form,
    read_form,
    see_other,
    use_form_locale,
)
from telehealth.views.i18n import locale_of
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

ENTER_CREDENTIALS = N_("Enter your username and password.")
BAD_CREDENTIALS = N_("The username or password is not correct.")
TOO_MANY_ATTEMPTS = N_("Too many failed attempts. Please wait %(minutes)s min before trying again.")


REGISTERED = N_(
    "Registration received. We have sent a message to the phone number (and e-mail) you "
    "gave; follow it to sign in."
)


class LoginQuery(PageQuery):
    """Where to go after signing in; `registered` after the registration form."""

    next: str | None = pydantic.Field(default=None, max_length=500)
    registered: bool = False


def _auth(call: Call[Any, Any]) -> AuthService:
    return call.request.app[keys.AUTH]


def _signed_in(call: Call[Any, Any]) -> bool:
    return call.request.get(keys.PRINCIPAL) is not None


@routes.get("/login", summary="Sign-in page", page=True, public=True, query=LoginQuery)
async def login_page(call: Call[None, LoginQuery]) -> web.Response:
    """The sign-in form; someone already signed in goes straight on."""
    if _signed_in(call):
        return see_other(local_path(call.query.next))
    state = FormState(message=REGISTERED if call.query.registered else None)
    return _login_form(call.request, state, local_path(call.query.next))


@routes.post("/login", summary="Sign in from the form", page=True, public=True, query=LoginQuery)
async def login_submit(call: Call[None, LoginQuery]) -> web.Response:
    """Check the password, open a cookie session and go to `next` (a local path only)."""
    form = await read_form(call.request, check_csrf=False)
    use_form_locale(call.request, form)
    state, target = FormState.of(form), local_path(form.get("next"))
    try:
        credentials = parse_form(s.LoginIn, form)
        signed_in = await _auth(call).sign_in(
            call.audit,
            credentials.username,
            credentials.password,
            "cookie",
            call.request.headers.get("User-Agent"),
        )
    except InvalidInput:
        state.message, state.status = ENTER_CREDENTIALS, 400
    except InvalidCredentials:
        state.message, state.status = BAD_CREDENTIALS, 401
    except RateLimited as limited:
        return _rate_limited_form(call.request, state, target, limited.retry_after)
    else:
        return await _replace_session(call, signed_in.token, target)
    return _login_form(call.request, state, target)


async def _replace_session(call: Call[Any, Any], token: str, target: str) -> web.Response:
    # A browser that was signed in as someone else gets the new cookie; the session it
    # replaces is ended on the server rather than left alive until it expires.
    previous = call.request.get(keys.PRINCIPAL)
    if previous is not None and previous.via == "cookie":
        await _auth(call).sign_out(call.audit, previous)
    response = see_other(target)
    set_session_cookie(call.request, response, token)
    return response


def _login_form(request: web.Request, state: FormState, target: str) -> web.Response:
    context = {"form": state, "next": target}
    return render_page(request, "login.html", context, status=state.status)


def _rate_limited_form(
    request: web.Request, state: FormState, target: str, retry_after: int
) -> web.Response:
    state.message, state.status = TOO_MANY_ATTEMPTS, 429
    state.message_args = {"minutes": -(-retry_after // 60)}
    response = _login_form(request, state, target)
    response.headers["Retry-After"] = str(retry_after)
    return response


@routes.post("/logout", summary="Sign out", page=True, public=True, query=PageQuery)
async def logout_submit(call: Call[None, PageQuery]) -> web.Response:
    """End the session on the server, clear the cookie and go to the sign-in page."""
    principal = call.request.get(keys.PRINCIPAL)
    if principal is not None:
        await read_form(call.request)
        await _auth(call).sign_out(call.audit, principal)
    response = see_other("/login")
    response.del_cookie(call.request.app[keys.SETTINGS].sessions.cookie_name, path="/")
    return response


@routes.get(
    "/register", summary="Patient registration page", page=True, public=True, query=PageQuery
)
async def register_page(call: Call[None, PageQuery]) -> web.Response:
    """The self-registration form for patients."""
    if _signed_in(call):
        return see_other("/")
    return render_page(call.request, "register.html", {"form": FormState()})


@routes.post("/register", summary="Register as a patient", page=True, public=True, query=PageQuery)
async def register_submit(call: Call[None, PageQuery]) -> web.Response:
    """Register the patient, then go to the sign-in page with the same notice whether the
    username was free or taken (the outcome is told out of band)."""
    form = await read_form(call.request, check_csrf=False)
    use_form_locale(call.request, form)
    try:
        data = parse_form(s.RegisterIn, form, locale=locale_of(call.request))
        await _auth(call).request_registration(call.audit, data)
    except InvalidInput as error:
        state = form_failure(form, error)
        return render_page(call.request, "register.html", {"form": state}, status=state.status)
    except RateLimited as limited:
        state = FormState.of(form)
        state.message, state.status = TOO_MANY_ATTEMPTS, 429
        state.message_args = {"minutes": -(-limited.retry_after // 60)}
        response = render_page(call.request, "register.html", {"form": state}, status=429)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    return see_other("/login?registered=1")
