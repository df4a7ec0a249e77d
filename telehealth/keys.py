"""Every typed key of application and request state, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from telehealth.accounts.service import AccountsService
    from telehealth.auth.passwords import PasswordHasher
    from telehealth.auth.principal import Principal
    from telehealth.auth.sequencer import AuditSequencer
    from telehealth.auth.service import AuthService
    from telehealth.config import Settings
    from telehealth.consults.attachments import AttachmentService
    from telehealth.consults.inspection_pool import InspectionPool
    from telehealth.consults.rota import OnCallRota
    from telehealth.consults.service import ConsultService
    from telehealth.fhir.directory import FhirDirectory
    from telehealth.rooms.live import LiveRooms
    from telehealth.rooms.service import RoomService
    from telehealth.scheduling.appointments import AppointmentService
    from telehealth.scheduling.availability import AvailabilityService
    from telehealth.scheduling.search import SlotSearch
    from telehealth.signalling.server import SignallingServer
    from telehealth.teaching.service import TeachingService
    from telehealth.views.i18n import Catalogues
    from telehealth.views.metrics import HttpMetrics
    from telehealth.views.routing import Endpoint

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine")
SESSIONMAKER: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessionmaker")
AUDIT_SEQUENCER: web.AppKey[AuditSequencer] = web.AppKey("audit_sequencer")
PASSWORDS: web.AppKey[PasswordHasher] = web.AppKey("passwords")
CATALOGUES: web.AppKey[Catalogues] = web.AppKey("catalogues")
METRICS_REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("metrics_registry")
HTTP_METRICS: web.AppKey[HttpMetrics] = web.AppKey("http_metrics")
ENDPOINTS: web.AppKey[list[Endpoint]] = web.AppKey("endpoints")
AUTH: web.AppKey[AuthService] = web.AppKey("auth")
ACCOUNTS: web.AppKey[AccountsService] = web.AppKey("accounts")
AVAILABILITY: web.AppKey[AvailabilityService] = web.AppKey("availability")
SLOTS: web.AppKey[SlotSearch] = web.AppKey("slots")
APPOINTMENTS: web.AppKey[AppointmentService] = web.AppKey("appointments")
CONSULTS: web.AppKey[ConsultService] = web.AppKey("consults")
ATTACHMENTS: web.AppKey[AttachmentService] = web.AppKey("attachments")
INSPECTIONS: web.AppKey[InspectionPool] = web.AppKey("inspections")
ROTA: web.AppKey[OnCallRota] = web.AppKey("rota")
FHIR: web.AppKey[FhirDirectory] = web.AppKey("fhir")
ROOMS: web.AppKey[RoomService] = web.AppKey("rooms")
SIGNALLING: web.AppKey[SignallingServer] = web.AppKey("signalling")
LIVE_ROOMS: web.AppKey[LiveRooms] = web.AppKey("live_rooms")
TEACHING: web.AppKey[TeachingService] = web.AppKey("teaching")

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
CLIENT_REQUEST_ID: web.RequestKey[str | None] = web.RequestKey("client_request_id")
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
LOCALE: web.RequestKey[str] = web.RequestKey("locale")
