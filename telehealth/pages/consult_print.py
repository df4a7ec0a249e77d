"""A consult's record for the paper chart: the request and its current signed opinion on
one printable page, for the parties who may read its clinical content."""

from __future__ import annotations

from aiohttp import web

from telehealth import keys
from telehealth.errors import NotFound
from telehealth.pages.consult_forms import consult_id, local_time
from telehealth.pages.forms import PageQuery
from telehealth.pages.lookups import facility_choices, specialty_choices
from telehealth.pages.timetable import local_now
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import render_page

routes = Routes("pages")


@routes.get(
    "/consults/{consult_id}/print", summary="Printable consult record", page=True, query=PageQuery
)
async def print_page(call: Call[None, PageQuery]) -> web.Response:
    """The request, the case and the current opinion with its signature and content hash;
    404 for anyone who may not read the clinical content (admins who are not parties)."""
    request = call.request
    consults = request.app[keys.CONSULTS]
    consult = await consults.get(call.principal, call.audit, consult_id(call))
    if not consult.clinical:
        raise NotFound("No such consult.")
    context = {
        "consult": consult,
        "opinion": consult.opinion,
        "ref": consult.id[:8].upper(),
        "printed": local_now(request),
        "local": local_time(request),
        "specialty_names": dict(await specialty_choices(request)),
        "facility_names": dict(await facility_choices(request)),
    }
    return render_page(request, "consult_print.html", context)
