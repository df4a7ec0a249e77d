"""Choices offered by the forms (facilities, specialties), read through the services."""

from __future__ import annotations

from aiohttp import web

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.views.i18n import locale_of

# Select lists show the first facilities only; a network larger than this needs a
# searchable picker rather than a longer list.
MAX_CHOICES = 200

Choices = list[tuple[str, str]]


async def facility_choices(request: web.Request) -> Choices:
    """(id, name) of the facilities, in the order they were added."""
    page = await request.app[keys.ACCOUNTS].list_facilities(s.FacilityQuery(limit=MAX_CHOICES))
    return [(f.id, f"{f.name} ({f.code})") for f in page.items]


async def specialty_choices(request: web.Request) -> Choices:
    """(code, name in the page's language) of every specialty."""
    specialties = await request.app[keys.ACCOUNTS].list_specialties()
    vietnamese = locale_of(request) == "vi"
    return [(sp.code, sp.name_vi if vietnamese else sp.name_en) for sp in specialties]
