"""Administration pages: facilities of the network and staff accounts (admins only)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telehealth import keys
from telehealth.accounts import schemas as s
from telehealth.accounts.models import Role
from telehealth.accounts.service import AccountsService
from telehealth.errors import Conflict, InvalidInput
from telehealth.pages.forms import (
    USERNAME_TAKEN,
    FormState,
    ListQuery,
    form_failure,
    parse_form,
    read_form,
    see_other,
)
from telehealth.pages.lookups import facility_choices, specialty_choices
from telehealth.views.routing import Call, Routes
from telehealth.views.templating import N_, render_page

routes = Routes("pages")

ADMIN = {Role.ADMIN}
PAGE_SIZE = 50
STAFF_ROLES = [r.value for r in Role if r is not Role.PATIENT]
USER_LISTS = ("roles", "specialties")
CODE_TAKEN = N_("A facility with this code already exists.")


def _accounts(call: Call[Any, Any]) -> AccountsService:
    return call.request.app[keys.ACCOUNTS]


@routes.get("/admin/facilities", summary="Facilities page", page=True, roles=ADMIN, query=ListQuery)
async def facilities_page(call: Call[None, ListQuery]) -> web.Response:
    """The facilities of the network and a form to add one."""
    return await _facilities(call, FormState(values={"timezone": "Asia/Ho_Chi_Minh"}))


@routes.post("/admin/facilities", summary="Add a facility", page=True, roles=ADMIN, query=ListQuery)
async def facility_submit(call: Call[None, ListQuery]) -> web.Response:
    """Add the facility described by the form."""
    form = await read_form(call.request)
    try:
        await _accounts(call).create_facility(call.audit, parse_form(s.FacilityIn, form))
    except (InvalidInput, Conflict) as error:
        return await _facilities(call, form_failure(form, error, conflict=("code", CODE_TAKEN)))
    return see_other("/admin/facilities?created=1")


async def _facilities(call: Call[None, ListQuery], state: FormState) -> web.Response:
    query = s.FacilityQuery(limit=PAGE_SIZE, cursor=call.query.cursor)
    context = {
        "page": await _accounts(call).list_facilities(query),
        "parents": await facility_choices(call.request),
        "form": state,
        "created": call.query.created,
    }
    return render_page(call.request, "admin_facilities.html", context, status=state.status)


@routes.get("/admin/users", summary="Users page", page=True, roles=ADMIN, query=ListQuery)
async def users_page(call: Call[None, ListQuery]) -> web.Response:
    """The accounts and a form to create a staff account."""
    return await _users(call, FormState())


@routes.post(
    "/admin/users", summary="Create a staff account", page=True, roles=ADMIN, query=ListQuery
)
async def user_submit(call: Call[None, ListQuery]) -> web.Response:
    """Create the staff account described by the form."""
    form = await read_form(call.request)
    try:
        data = parse_form(s.UserCreate, form, lists=USER_LISTS)
        await _accounts(call).create_user(call.audit, data)
    except (InvalidInput, Conflict) as error:
        conflict = ("username", USERNAME_TAKEN)
        return await _users(call, form_failure(form, error, lists=USER_LISTS, conflict=conflict))
    return see_other("/admin/users?created=1")


async def _users(call: Call[None, ListQuery], state: FormState) -> web.Response:
    facilities = await facility_choices(call.request)
    context = {
        "page": await _accounts(call).list_users(
            s.UserQuery(limit=PAGE_SIZE, cursor=call.query.cursor)
        ),
        "facilities": facilities,
        "facility_names": dict(facilities),
        "specialties": await specialty_choices(call.request),
        "staff_roles": STAFF_ROLES,
        "form": state,
        "created": call.query.created,
    }
    return render_page(call.request, "admin_users.html", context, status=state.status)
