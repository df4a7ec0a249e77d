"""The call page of a live room: device check, waiting room, video, chat and the outcome.

The page is a shell: the browser asks `POST /api/v1/rooms/{id}/join` whether the caller is
a party and in which role, and the modules under web/static/js/call/ do the rest.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from telehealth.pages.forms import PageQuery
from telehealth.pages.timetable import checked_id, here
from telehealth.views import vendor
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

__all__ = ["DISPOSITIONS", "routes"]

# Where the patient goes after the visit: telehealth.rooms.schemas.VisitDisposition.
DISPOSITIONS = (
    ("home", N_("Home care, no follow-up needed")),
    ("follow_up", N_("Follow-up visit")),
    ("referred", N_("Referred to another facility")),
    ("in_person", N_("Must be seen in person")),
    ("emergency", N_("Sent to emergency care")),
)


@routes.get("/rooms/{room_id}", summary="Call page of a room", page=True, query=PageQuery)
async def call_page(call: Call[None, PageQuery]) -> web.Response:
    """The call page; who may join is decided by the join request the page makes."""
    room_id = checked_id(call.path("room_id"), "No such room.")
    context = {
        "room_id": room_id,
        "vendor_ready": await asyncio.to_thread(vendor.socket_io_installed),
        "vendor_url": vendor.SOCKET_IO_URL,
        "install_command": vendor.INSTALL_COMMAND,
        "dispositions": DISPOSITIONS,
        "here": here(call.request),
    }
    return render_page(call.request, "call.html", context)
