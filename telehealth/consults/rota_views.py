"""JSON endpoints of the on-call rota: read it, see who is on call now, add and remove shifts.

Clinicians and administrators read the rota. Administrators keep it; a specialist may put
themselves on call (and take themselves off) for a specialty they hold at their own hospital.
"""

from __future__ import annotations

from typing import Any

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.consults import rota as r
from telehealth.views.routing import Call, Routes

routes = Routes("on_call")
KEEPERS = {Role.ADMIN, Role.SPECIALIST}


def _rota(call: Call[Any, Any]) -> r.OnCallRota:
    return call.request.app[keys.ROTA]


@routes.get(
    "/api/v1/on-call",
    summary="The on-call rota",
    roles=r.READERS,
    query=r.RotaQuery,
    response=r.ShiftPage,
)
async def list_shifts(call: Call[None, r.RotaQuery]) -> r.ShiftPage:
    """Shifts overlapping `from`..`to` (default: the next 7 days), soonest start first."""
    return await _rota(call).list_shifts(call.principal, call.query)


@routes.get(
    "/api/v1/on-call/now",
    summary="Who is on call now",
    roles=r.READERS,
    query=r.NowQuery,
    response=r.OnCallNowOut,
)
async def on_call_now(call: Call[None, r.NowQuery]) -> r.OnCallNowOut:
    """Per specialty and hospital; an overdue consult notifies the first listed."""
    return await _rota(call).on_call_now(call.principal, call.query)


@routes.post(
    "/api/v1/on-call",
    summary="Put a specialist on call",
    roles=KEEPERS,
    body=r.ShiftIn,
    response=r.ShiftOut,
    status=201,
    errors=(409, 422),
)
async def add_shift(call: Call[r.ShiftIn, Any]) -> r.ShiftOut:
    """At most 7 days; never overlapping another shift of theirs in the same specialty."""
    return await _rota(call).add_shift(call.principal, call.audit, call.body)


@routes.delete(
    "/api/v1/on-call/{shift_id}",
    summary="Take a shift off the rota",
    roles=KEEPERS,
    status=204,
    errors=(404, 409),
)
async def remove_shift(call: Call[None, Any]) -> None:
    """A shift that has ended stays on the record."""
    await _rota(call).remove_shift(call.principal, call.audit, call.path("shift_id"))
