"""Calendar endpoints: an appointment's `.ics` for its parties, and private feeds.

The feed at `/calendar/{secret}.ics` is public by design: calendar apps subscribe
without signing in, so the secret in the URL is the credential. Only its SHA-256 is
stored; each POST replaces it (the old URL stops working) and DELETE revokes it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.accounts.schemas import Locale, QueryIn
from telehealth.db.base import utcnow
from telehealth.errors import NotFound
from telehealth.scheduling import calendar
from telehealth.scheduling import schemas as s
from telehealth.views.i18n import locale_of
from telehealth.views.routing import Call, Routes

routes = Routes("calendar")
MANAGERS = {Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR, Role.ADMIN}
FEED = "/api/v1/practitioners/{practitioner_id}/calendar-feed"
CALENDAR_TYPE = "text/calendar"
# Ids are UUIDs; anything else (a NUL byte, a megabyte of text) names nothing and
# must not reach the database.
ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class CalendarQuery(QueryIn):
    """`?lang=vi|en` picks the language of the texts (else the usual locale choice)."""

    lang: Annotated[Locale | None, Field(description="Language of the event texts")] = None


def _id(call: Call[Any, Any], name: str, missing: str) -> str:
    value = call.path(name)
    if not ID_RE.match(value):
        raise NotFound(missing)
    return value


def _ics(body: bytes, filename: str | None) -> web.Response:
    headers = {"Cache-Control": "private, no-store"}
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return web.Response(body=body, content_type=CALENDAR_TYPE, charset="utf-8", headers=headers)


def feed_url(public_url: str, secret: str) -> str:
    """Where calendar apps subscribe to a feed."""
    return f"{public_url.rstrip('/')}/calendar/{secret}.ics"


@routes.get(
    "/api/v1/appointments/{appointment_id}/calendar.ics",
    summary="An appointment as an iCalendar file",
    query=CalendarQuery,
    errors=(404,),
)
async def appointment_ics(call: Call[None, CalendarQuery]) -> web.Response:
    """For the parties of the appointment (others get 404); `text/calendar`."""
    appointment_id = _id(call, "appointment_id", "No such appointment.")
    appt, timezone = await call.request.app[keys.APPOINTMENTS].appointment_for_calendar(
        call.principal, call.audit, appointment_id
    )
    body = calendar.appointment_calendar(appt, timezone, locale_of(call.request), utcnow())
    return _ics(body, f"telehealth-{calendar.reference(appt.id)}.ics")


@routes.post(
    FEED,
    summary="Issue a new private calendar feed URL",
    roles=MANAGERS,
    response=s.FeedOut,
    status=201,
    errors=(404,),
)
async def rotate_feed(call: Call[None, Any]) -> s.FeedOut:
    """The practitioner or their coordinators; any previous URL stops working."""
    practitioner_id = _id(call, "practitioner_id", "No such practitioner schedule.")
    secret = calendar.new_feed_secret()
    await call.request.app[keys.AVAILABILITY].rotate_feed(
        call.principal, call.audit, practitioner_id, calendar.feed_digest(secret)
    )
    return s.FeedOut(url=feed_url(call.request.app[keys.SETTINGS].public_url, secret))


@routes.delete(
    FEED,
    summary="Revoke the private calendar feed",
    roles=MANAGERS,
    status=204,
    errors=(404,),
)
async def revoke_feed(call: Call[None, Any]) -> None:
    """The feed URL answers 404 from now on."""
    practitioner_id = _id(call, "practitioner_id", "No such practitioner schedule.")
    await call.request.app[keys.AVAILABILITY].rotate_feed(
        call.principal, call.audit, practitioner_id, None
    )


@routes.get(
    "/calendar/{secret}.ics",
    summary="A practitioner's private calendar feed",
    public=True,
    query=CalendarQuery,
    errors=(404,),
)
async def feed_ics(call: Call[None, CalendarQuery]) -> web.Response:
    """Upcoming visits without names or reasons; 404 for an unknown or revoked secret."""
    found = await call.request.app[keys.AVAILABILITY].feed_appointments(
        call.audit, calendar.feed_digest(call.path("secret"))
    )
    if found is None:
        raise NotFound("No such calendar feed.")
    appts, timezone = found
    return _ics(calendar.feed_calendar(appts, timezone, locale_of(call.request), utcnow()), None)
