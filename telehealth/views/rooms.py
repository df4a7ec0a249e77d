"""JSON endpoints of rooms: join, state, event log and the visit's outcome."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from telehealth import keys
from telehealth.errors import InvalidInput
from telehealth.rooms import schemas as s
from telehealth.views.routing import Call, Routes, render

routes = Routes("rooms")
ROOM = "/api/v1/rooms/{room_id}"
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")


@routes.post(
    ROOM + "/join",
    summary="A join token for the room's signalling, with the ICE servers",
    response=s.JoinOut,
    errors=(404, 409),
)
async def join(call: Call[None, Any]) -> s.JoinOut:
    """Parties of an open room only; 409 `room_not_open` before it opens, `room_ended` after."""
    return await call.request.app[keys.ROOMS].join(call.principal, call.audit, call.path("room_id"))


@routes.get(ROOM, summary="The room's state and who is in it", response=s.RoomOut, errors=(404,))
async def get_room(call: Call[None, Any]) -> s.RoomOut:
    """Parties only; the waiting list is shown to the host."""
    return await call.request.app[keys.ROOMS].view(call.principal, call.path("room_id"))


@routes.get(
    ROOM + "/events",
    summary="The room's event log, oldest first",
    query=s.EventQuery,
    response=s.EventPage,
    errors=(404,),
)
async def events(call: Call[None, s.EventQuery]) -> s.EventPage:
    """Joins, admissions, departures, connection reports, chat and the outcome."""
    return await call.request.app[keys.ROOMS].events(
        call.principal, call.audit, call.path("room_id"), call.query.limit, call.query.cursor
    )


@routes.post(
    ROOM + "/outcome",
    summary="Record the visit's outcome (idempotent with Idempotency-Key)",
    body=s.OutcomeIn,
    response=s.OutcomeOut,
    status=201,
    errors=(403, 404, 409, 422),
)
async def record_outcome(call: Call[s.OutcomeIn, Any]) -> web.StreamResponse:
    """Once per visit: ends the room and completes the appointment; a retry with the same
    key answers the same outcome (200); a correction gives a reason and is a new version."""
    key = call.request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY_RE.match(key):
        raise InvalidInput("Idempotency-Key must be 8-100 letters, digits or ._:-")
    room_id = call.path("room_id")
    outcome, new = await call.request.app[keys.ROOMS].record_outcome(
        call.principal, call.audit, room_id, call.body, key
    )
    if new and keys.LIVE_ROOMS in call.request.app:
        await call.request.app[keys.LIVE_ROOMS].ended(room_id)
    return render(outcome, 201 if new else 200)


@routes.get(ROOM + "/outcome", summary="The visit's outcome", response=s.OutcomeOut, errors=(404,))
async def get_outcome(call: Call[None, Any]) -> s.OutcomeOut:
    """The current version, for the parties."""
    return await call.request.app[keys.ROOMS].outcome(
        call.principal, call.audit, call.path("room_id")
    )
