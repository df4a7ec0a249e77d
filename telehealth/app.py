"""The one composition root: `create_app(settings)` wires every part of the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CollectorRegistry

from telehealth import keys, pages
from telehealth.accounts import views as accounts_views
from telehealth.accounts.service import AccountsService
from telehealth.auth import views as auth_views
from telehealth.auth.passwords import PasswordHasher
from telehealth.auth.sequencer import audit_sequencer_ctx
from telehealth.auth.service import AuthService
from telehealth.config import Settings
from telehealth.consults import attachment_views, rota_views
from telehealth.consults import stats_views as consult_stats_views
from telehealth.consults import views as consults_views
from telehealth.consults.attachments import AttachmentService
from telehealth.consults.deadlines import deadline_watch_ctx
from telehealth.consults.inspection_pool import inspection_pool_ctx
from telehealth.consults.rota import OnCallRota
from telehealth.consults.service import ConsultService
from telehealth.db.engine import database_ctx
from telehealth.fhir import views as fhir_views
from telehealth.fhir.directory import FhirDirectory
from telehealth.outbox.dispatcher import outbox_ctx
from telehealth.rooms.service import RoomService
from telehealth.scheduling import calendar_views
from telehealth.scheduling import views as scheduling_views
from telehealth.scheduling.appointments import AppointmentService
from telehealth.scheduling.availability import AvailabilityService
from telehealth.scheduling.search import SlotSearch
from telehealth.signalling.server import SignallingServer, outside_http_edge, signalling_ctx
from telehealth.teaching import views as teaching_views
from telehealth.teaching.service import TeachingService
from telehealth.views import health, openapi, vendor
from telehealth.views import rooms as rooms_views
from telehealth.views.body_deadline import body_deadline_middleware
from telehealth.views.compression import compression_middleware, weaken_encoded_etag
from telehealth.views.edge_server import stamp_edge_headers
from telehealth.views.i18n import Catalogues
from telehealth.views.metrics import HttpMetrics
from telehealth.views.middlewares import (
    auth_middleware,
    context_middleware,
    csrf_middleware,
    error_middleware,
    locale_middleware,
)
from telehealth.views.routing import register_all
from telehealth.views.templating import STATIC_DIR, setup_templating

STALE_UPLOAD_SECONDS = 3600.0


def public_origin(public_url: str) -> str:
    """The scheme, host and port of the public URL (browsers' Origin header)."""
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}"


def create_app(settings: Settings) -> web.Application:
    """Build the application; nothing is opened until the app starts."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        # aiohttp's keep-alive timer runs from the connection's start until a request's
        # headers are complete (and again after each answer): it bounds a client that
        # sends its headers a byte at a time, and an idle connection.
        handler_args={"keepalive_timeout": settings.client_timeouts.header_seconds},
        middlewares=[
            outside_http_edge(m)
            for m in (
                # Outermost: error pages and problem documents are compressed too.
                compression_middleware,
                context_middleware,
                body_deadline_middleware,
                error_middleware,
                auth_middleware,
                # After auth: only a request the auth middleware authenticated by a valid
                # bearer token is exempt from the cross-site check.
                csrf_middleware,
                locale_middleware,
            )
        ],
    )
    # Answers built past the middlewares (Socket.IO's, the router's) get the edge's
    # headers too; aiohttp's answers to unparsable requests are `edge_server`'s.
    app.on_response_prepare.append(stamp_edge_headers)
    app.on_response_prepare.append(weaken_encoded_etag)
    app[keys.SETTINGS] = settings
    app[keys.ENDPOINTS] = []
    app[keys.PASSWORDS] = PasswordHasher(settings.passwords)
    app[keys.CATALOGUES] = Catalogues()
    registry = CollectorRegistry()
    app[keys.METRICS_REGISTRY] = registry
    app[keys.HTTP_METRICS] = HttpMetrics(registry)
    setup_templating(app)

    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(audit_sequencer_ctx)
    app.cleanup_ctx.append(inspection_pool_ctx)
    app.cleanup_ctx.append(_services_ctx)
    app.cleanup_ctx.append(outbox_ctx)
    app.cleanup_ctx.append(deadline_watch_ctx)
    signalling = SignallingServer(
        settings.redis_url, public_origin(settings.public_url), settings.redis_channel
    )
    app[keys.SIGNALLING] = signalling
    signalling.attach(app)
    app.cleanup_ctx.append(signalling_ctx)

    register_all(
        app,
        [
            health.routes,
            openapi.routes,
            auth_views.routes,
            accounts_views.routes,
            scheduling_views.routes,
            calendar_views.routes,
            fhir_views.routes,
            consults_views.routes,
            attachment_views.routes,
            consult_stats_views.routes,
            rota_views.routes,
            rooms_views.routes,
            teaching_views.routes,
        ],
    )
    pages.setup(app)
    vendor.setup(app)
    app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)
    return app


async def _services_ctx(app: web.Application) -> AsyncIterator[None]:
    """Build the services once the database is open."""
    sessionmaker = app[keys.SESSIONMAKER]
    passwords = app[keys.PASSWORDS]
    app[keys.ACCOUNTS] = AccountsService(sessionmaker, passwords)
    app[keys.AUTH] = AuthService(sessionmaker, passwords, app[keys.SETTINGS])
    settings = app[keys.SETTINGS]
    search = SlotSearch(sessionmaker, settings)
    app[keys.SLOTS] = search
    app[keys.AVAILABILITY] = AvailabilityService(sessionmaker, settings)
    app[keys.APPOINTMENTS] = AppointmentService(sessionmaker, settings, search)
    app[keys.CONSULTS] = ConsultService(sessionmaker, settings)
    attachments = AttachmentService(sessionmaker, settings, app[keys.INSPECTIONS])
    # Uploads cut off by a crash leave files in the store's tmp/; an hour is far longer
    # than any upload in flight in another process sharing the data directory.
    await asyncio.to_thread(attachments.store.sweep, STALE_UPLOAD_SECONDS)
    app[keys.ATTACHMENTS] = attachments
    app[keys.ROTA] = OnCallRota(sessionmaker, settings)
    app[keys.FHIR] = FhirDirectory(sessionmaker)
    app[keys.ROOMS] = RoomService(sessionmaker, settings)
    app[keys.TEACHING] = TeachingService(sessionmaker, settings)
    yield
