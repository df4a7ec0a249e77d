"""Middlewares of the HTTP edge, outermost first: context (request id, log, metrics,
security headers), errors, auth, CSRF, locale."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from telehealth import keys
from telehealth.auth.principal import Principal
from telehealth.errors import DomainError, ErrorCode, Unauthenticated
from telehealth.logs import REQUEST_ID
from telehealth.views.i18n import request_locale
from telehealth.views.problem import CODE_BY_HTTP_STATUS, from_domain_error, problem_response
from telehealth.views.routing import endpoint_of

log = logging.getLogger("telehealth.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Opting out of authentication is explicit: only these prefixes and endpoints marked
# `public=True` are served to anonymous callers.
PUBLIC_PREFIXES = ("/static/",)
INTERNAL = "Something went wrong on our side."
SERVER_NAME = "telehealth"
MALFORMED_REQUEST = "The request is malformed."
BAD_INPUT = ErrorCode.VALIDATION_ERROR
# What the access log and metrics record for a request its client abandoned (nginx's 499).
CLIENT_CLOSED_REQUEST = 499

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
}


def wants_html(request: web.Request) -> bool:
    """True for page routes and browsers asking for HTML rather than the JSON API."""
    endpoint = endpoint_of(request)
    if endpoint is not None:
        return endpoint.page
    path = request.path
    if path.startswith(("/api/", "/fhir/")) or path in {"/healthz", "/readyz", "/metrics"}:
        return False
    return "text/html" in request.headers.get("Accept", "")


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, structured access log, metrics and security headers for every answer."""
    # The id is always our own: a client's X-Request-ID (two users may send the same one)
    # is kept beside it, for correlation with the client's logs, never as the key.
    given = request.headers.get("X-Request-ID", "")
    client_request_id = given if REQUEST_ID_RE.match(given) else None
    request_id = uuid.uuid4().hex
    request[keys.REQUEST_ID] = request_id
    request[keys.CLIENT_REQUEST_ID] = client_request_id
    token = REQUEST_ID.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        _decorate(response.headers, request, client_request_id)
        return response
    except web.HTTPException as exc:
        # Redirects (and any answer raised rather than returned) get the same treatment.
        status = exc.status
        _decorate(exc.headers, request, client_request_id)
        raise
    except asyncio.CancelledError:
        # A server run with handler cancellation stops the handler of a client that left.
        if client_gone(request):
            status = CLIENT_CLOSED_REQUEST
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_label(request)
        request.app[keys.HTTP_METRICS].observe(request.method, route, status, elapsed)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "ms": round(elapsed * 1000, 2),
                "remote": request.remote,
                "client_request_id": client_request_id,
            },
        )
        REQUEST_ID.reset(token)


def _decorate(
    headers: MutableMapping[str, str], request: web.Request, client_request_id: str | None
) -> None:
    headers["X-Request-ID"] = request[keys.REQUEST_ID]
    if client_request_id is not None:
        headers["X-Client-Request-ID"] = client_request_id
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    # aiohttp would name itself and its version (and Python's) to every scanner.
    headers["Server"] = SERVER_NAME
    if request.get(keys.PRINCIPAL) is not None and "no-store" not in headers.get(
        "Cache-Control", ""
    ):
        # Whatever a signed-in caller gets may be patient data: no cache may keep it.
        headers["Cache-Control"] = "no-store"


def _route_label(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to problem+json (or an HTML page); never leak a traceback."""
    request_id = request.get(keys.REQUEST_ID)
    try:
        return await handler(request)
    except DomainError as error:
        return await _answer(request, error)
    except HttpProcessingError:
        # Met while reading the body: a part header or an encoding aiohttp cannot parse.
        # Its message echoes the client's bytes, so it is not repeated.
        return await _answer(request, DomainError(MALFORMED_REQUEST, code=BAD_INPUT))
    except ConnectionError:
        if not client_gone(request):
            log.exception("unhandled error")
            return problem_response(ErrorCode.INTERNAL, INTERNAL, request_id=request_id)
        # The client closed the connection before its request was complete: nobody is
        # left to answer, and it is no fault of ours.
        log.info("client went away", extra={"path": request.path})
        return web.Response(status=CLIENT_CLOSED_REQUEST, reason="Client Closed Request")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = CODE_BY_HTTP_STATUS.get(exc.status, ErrorCode.VALIDATION_ERROR)
        detail = exc.reason if exc.status != 413 else "The request body is too large."
        if wants_html(request):
            from telehealth.views.pages_errors import html_error

            return await html_error(request, DomainError(detail, code=code))
        # RFC 9110: a 405 names the methods the resource does support.
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return problem_response(code, detail, request_id=request_id, headers=headers)
    except Exception:
        log.exception("unhandled error")
        return problem_response(ErrorCode.INTERNAL, INTERNAL, request_id=request_id)


async def _answer(request: web.Request, error: DomainError) -> web.StreamResponse:
    if wants_html(request):
        from telehealth.views.pages_errors import html_error

        return await html_error(request, error)
    return from_domain_error(error, request.get(keys.REQUEST_ID))


def client_gone(request: web.Request) -> bool:
    """Whether the client has closed the connection of `request`."""
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Recognise the caller and refuse anything not explicitly public to anonymous callers."""
    principal = await _resolve_principal(request)
    request[keys.PRINCIPAL] = principal
    endpoint = endpoint_of(request)
    if endpoint is not None:
        if endpoint.page and principal is None and not endpoint.public:
            raise web.HTTPSeeOther(URL("/login").with_query(next=request.rel_url.path_qs))
        endpoint.allows(principal)
    elif principal is None and not request.path.startswith(PUBLIC_PREFIXES):
        _refuse_unrouted(request)
    return await handler(request)


def _refuse_unrouted(request: web.Request) -> None:
    # Unmatched paths answer 404 for everyone; matched non-endpoint routes need a sign-in.
    if request.match_info.http_exception is not None:
        raise request.match_info.http_exception
    raise Unauthenticated("Sign in first.")


async def _resolve_principal(request: web.Request) -> Principal | None:
    auth_service = request.app[keys.AUTH]
    # Any Authorization header, even an empty one, is an attempt at a bearer token and
    # must be a valid one: it never falls back to the cookie (issue 10, item 7).
    if "Authorization" in request.headers:
        scheme, _, token = request.headers["Authorization"].partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
        principal = await auth_service.resolve(token.strip(), "bearer")
        if principal is None:
            raise Unauthenticated("The token is unknown or has expired.")
        return principal
    cookie = request.cookies.get(request.app[keys.SETTINGS].sessions.cookie_name)
    if cookie:
        return await auth_service.resolve(cookie, "cookie")
    return None


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse cross-site writes: a foreign Origin always, a missing one when a cookie rides.

    Runs after the caller is resolved: only a request authenticated by a valid bearer
    token is exempt (a browser never adds one by itself); the mere presence of an
    `Authorization` header proves nothing.
    """
    principal = request.get(keys.PRINCIPAL)
    by_bearer = principal is not None and principal.via == "bearer"
    if request.method in UNSAFE_METHODS and not by_bearer:
        origin = request.headers.get("Origin") or _origin_of(request.headers.get("Referer"))
        has_cookie = request.app[keys.SETTINGS].sessions.cookie_name in request.cookies
        if (origin is None and has_cookie) or (
            origin is not None
            and origin.lower() != public_origin(request.app[keys.SETTINGS].public_url)
        ):
            raise DomainError(
                "The request did not come from this site.", code=ErrorCode.CSRF_FAILED
            )
    return await handler(request)


def _origin_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return "null"  # unparsable: an opaque origin, never one of ours
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def public_origin(public_url: str) -> str:
    """The one origin whose writes are accepted: the configured public URL's.

    Never the request's `Host`: that header is the client's to choose.
    """
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@web.middleware
async def locale_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Choose the language: `?lang=`, the user's setting, the `th_lang` cookie of the
    language switch, then Accept-Language, then the default."""
    request[keys.LOCALE] = request_locale(request)
    return await handler(request)
