"""JSON endpoints of registration, sign-in, tokens and sign-out."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.auth.registration import REGISTRATION_RECEIVED
from telehealth.auth.service import SignIn
from telehealth.views.routing import Call, Routes, render

routes = Routes("auth")


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Attach the session cookie: HttpOnly, SameSite=Lax, Secure behind HTTPS."""
    settings = request.app[keys.SETTINGS]
    response.set_cookie(
        settings.sessions.cookie_name,
        token,
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
        path="/",
        max_age=int(settings.sessions.absolute_timeout.total_seconds()),
    )


async def sign_in(call: Call[s.LoginIn, Any], kind: str) -> SignIn:
    """Shared by the cookie login, the token endpoint and the sign-in page."""
    return await call.request.app[keys.AUTH].sign_in(
        call.audit,
        call.body.username,
        call.body.password,
        kind,
        call.request.headers.get("User-Agent"),
    )


@routes.post(
    "/api/v1/auth/register",
    summary="Patient self-registration (the same answer whether the username was free)",
    public=True,
    body=s.RegisterIn,
    response=s.RegistrationOut,
    status=202,
    errors=(429,),
)
async def register(call: Call[s.RegisterIn, Any]) -> s.RegistrationOut:
    """Create a patient login and record if the username is free; the registrant learns
    the outcome at the phone and e-mail they gave, never from this answer."""
    await call.request.app[keys.AUTH].request_registration(call.audit, call.body)
    return s.RegistrationOut(detail=REGISTRATION_RECEIVED)


@routes.post(
    "/api/v1/auth/login",
    summary="Sign in with a session cookie",
    public=True,
    body=s.LoginIn,
    response=s.MeOut,
    errors=(429,),
)
async def login(call: Call[s.LoginIn, Any]) -> web.StreamResponse:
    """Check the password and start a new server-side session (a new token every time)."""
    signed_in = await sign_in(call, "cookie")
    call.request[keys.PRINCIPAL] = signed_in.principal
    me = await call.request.app[keys.ACCOUNTS].me(signed_in.principal)
    response = render(me, 200)
    set_session_cookie(call.request, response, signed_in.token)
    return response


@routes.post(
    "/api/v1/auth/token",
    summary="Get a bearer token for an API client",
    public=True,
    body=s.LoginIn,
    response=s.TokenOut,
    errors=(429,),
)
async def token(call: Call[s.LoginIn, Any]) -> s.TokenOut:
    """Check the password and issue a bearer token."""
    signed_in = await sign_in(call, "bearer")
    return s.TokenOut(access_token=signed_in.token, expires_at=signed_in.expires_at)


@routes.post("/api/v1/auth/logout", summary="End the current session or token", status=204)
async def logout(call: Call[None, Any]) -> web.StreamResponse:
    """End the session on the server and clear the cookie."""
    await call.request.app[keys.AUTH].sign_out(call.audit, call.principal)
    response = web.Response(status=204)
    response.del_cookie(call.request.app[keys.SETTINGS].sessions.cookie_name, path="/")
    return response


@routes.get("/api/v1/me", summary="The signed-in user", response=s.MeOut)
async def me(call: Call[None, Any]) -> s.MeOut:
    """The caller's account, roles and facility."""
    return await call.request.app[keys.ACCOUNTS].me(call.principal)


@routes.patch("/api/v1/me", summary="Change one's own profile", body=s.MeUpdate, response=s.MeOut)
async def update_me(call: Call[s.MeUpdate, Any]) -> s.MeOut:
    """Name, phone, e-mail or language of the caller."""
    return await call.request.app[keys.ACCOUNTS].update_me(call.principal, call.audit, call.body)


@routes.post(
    "/api/v1/me/password",
    summary="Change one's own password; every session and token of the user ends",
    body=s.PasswordChange,
    status=204,
    errors=(401, 429),
)
async def change_password(call: Call[s.PasswordChange, Any]) -> web.StreamResponse:
    """Check the current password, set the new one and sign the user out everywhere."""
    await call.request.app[keys.AUTH].change_password(
        call.audit, call.principal, call.body.current_password, call.body.new_password
    )
    response = web.Response(status=204)
    response.del_cookie(call.request.app[keys.SETTINGS].sessions.cookie_name, path="/")
    return response
