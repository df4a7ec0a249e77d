"""JSON endpoints of teaching sessions: scheduling, enrolment, the register and its CSV."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.teaching import schemas as s
from telehealth.teaching.export import attendance_csv
from telehealth.teaching.service import TeachingService
from telehealth.views.routing import Call, Routes

__all__ = ["routes"]

routes = Routes("teaching")
SESSIONS = "/api/v1/teaching-sessions"
SESSION = SESSIONS + "/{session_id}"
TRAINER = {Role.TRAINER}
TRAINEE = {Role.TRAINEE}
EITHER = {Role.TRAINER, Role.TRAINEE}


def _teaching(call: Call[Any, Any]) -> TeachingService:
    return call.request.app[keys.TEACHING]


def _id(call: Call[Any, Any]) -> str:
    return call.path("session_id")


@routes.post(
    SESSIONS,
    summary="Schedule a teaching session",
    roles=TRAINER,
    body=s.SessionIn,
    response=s.SessionOut,
    status=201,
)
async def create_session(call: Call[s.SessionIn, Any]) -> s.SessionOut:
    """The session gets its relay room at once; only invited facilities' trainees see it."""
    return await _teaching(call).create(call.principal, call.audit, call.body)


@routes.get(
    SESSIONS,
    summary="Own sessions (trainer) or sessions open to one's facility (trainee)",
    roles=EITHER,
    query=s.SessionQuery,
    response=s.SessionPage,
)
async def list_sessions(call: Call[None, s.SessionQuery]) -> s.SessionPage:
    """Earliest start first."""
    return await _teaching(call).list_sessions(call.principal, call.query.limit, call.query.cursor)


@routes.get(SESSION, summary="One session", roles=EITHER, response=s.SessionOut, errors=(404,))
async def get_session(call: Call[None, Any]) -> s.SessionOut:
    """Its trainer and trainees of invited facilities; 404 for anyone else."""
    return await _teaching(call).get(call.principal, _id(call))


@routes.post(
    SESSION + "/cancel",
    summary="Cancel a session",
    roles=TRAINER,
    response=s.SessionOut,
    errors=(404, 422),
)
async def cancel_session(call: Call[None, Any]) -> s.SessionOut:
    """Its room ends; enrolled trainees are told and their reminders withdrawn."""
    return await _teaching(call).cancel(call.principal, call.audit, _id(call))


@routes.post(
    SESSION + "/enrol",
    summary="Enrol in a session",
    roles=TRAINEE,
    response=s.EnrolmentOut,
    status=201,
    errors=(404, 409, 422),
)
async def enrol(call: Call[None, Any]) -> s.EnrolmentOut:
    """409 `session_full` when no place is left, `already_exists` when enrolled already."""
    return await _teaching(call).enrol(call.principal, call.audit, _id(call))


@routes.post(
    SESSION + "/enrolment/cancel",
    summary="Cancel one's enrolment",
    roles=TRAINEE,
    response=s.EnrolmentOut,
    errors=(404,),
)
async def cancel_enrolment(call: Call[None, Any]) -> s.EnrolmentOut:
    """The place is given back; reminders not yet sent are withdrawn."""
    return await _teaching(call).cancel_enrolment(call.principal, call.audit, _id(call))


@routes.get(
    SESSION + "/enrolments",
    summary="Who enrolled",
    roles=TRAINER,
    response=list[s.EnrolmentOut],
    errors=(404,),
)
async def enrolments(call: Call[None, Any]) -> list[s.EnrolmentOut]:
    """The session's trainer only."""
    return await _teaching(call).enrolments(call.principal, call.audit, _id(call))


@routes.get(
    SESSION + "/attendance",
    summary="Minutes present per trainee",
    roles=TRAINER,
    response=s.AttendanceOut,
    errors=(404,),
)
async def attendance(call: Call[None, Any]) -> s.AttendanceOut:
    """From the room's event log; reconnects within the window do not split a presence."""
    return await _teaching(call).attendance(call.principal, call.audit, _id(call))


@routes.get(
    SESSION + "/attendance.csv",
    summary="Minutes present per trainee, as CSV",
    roles=TRAINER,
    errors=(404,),
    produces=("text/csv",),
)
async def attendance_as_csv(call: Call[None, Any]) -> web.Response:
    """The same register for a spreadsheet; cells cannot run as formulas."""
    register = await _teaching(call).attendance(call.principal, call.audit, _id(call))
    return web.Response(
        text=attendance_csv(register),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="attendance-{register.session_id}.csv"'
        },
    )
