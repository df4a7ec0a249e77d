"""JSON endpoints of consult requests: filing, the queues, triage, messages and opinions."""

from __future__ import annotations

from typing import Any

from telehealth import keys
from telehealth.accounts.models import Role
from telehealth.consults import schemas as s
from telehealth.consults.service import ConsultService
from telehealth.views.routing import Call, Routes

routes = Routes("consults")
CLINICIANS = {Role.DOCTOR, Role.SPECIALIST}
READERS = {Role.DOCTOR, Role.SPECIALIST, Role.ADMIN}
CONSULT = "/api/v1/consults/{consult_id}"


def _consults(call: Call[Any, Any]) -> ConsultService:
    return call.request.app[keys.CONSULTS]


def _id(call: Call[Any, Any]) -> str:
    return call.path("consult_id")


@routes.post(
    "/api/v1/consults",
    summary="File a consult request",
    roles={Role.DOCTOR},
    body=s.ConsultCreate,
    response=s.ConsultOut,
    status=201,
    errors=(404,),
)
async def file_consult(call: Call[s.ConsultCreate, Any]) -> s.ConsultOut:
    """For one of the doctor's facility's patients; submitted unless `draft` is true."""
    return await _consults(call).file(call.principal, call.audit, call.body)


@routes.get(
    "/api/v1/consults",
    summary="Specialty queue or own consults",
    roles=READERS,
    query=s.ConsultQuery,
    response=s.ConsultPage,
)
async def list_consults(call: Call[None, s.ConsultQuery]) -> s.ConsultPage:
    """`queue=specialty` lists the caller's specialty queues ordered by deadline."""
    return await _consults(call).list_consults(call.principal, call.audit, call.query)


@routes.get(CONSULT, summary="One consult", roles=READERS, response=s.ConsultOut, errors=(404,))
async def get_consult(call: Call[None, Any]) -> s.ConsultOut:
    """Clinical content for the parties; admins who are not parties see metadata only."""
    return await _consults(call).get(call.principal, call.audit, _id(call))


@routes.patch(
    CONSULT,
    summary="Edit a draft",
    roles={Role.DOCTOR},
    body=s.ConsultDraftUpdate,
    response=s.ConsultOut,
    errors=(404, 409),
)
async def update_draft(call: Call[s.ConsultDraftUpdate, Any]) -> s.ConsultOut:
    """Drafts only; a submitted request changes through amendments."""
    return await _consults(call).update_draft(call.principal, call.audit, _id(call), call.body)


@routes.post(
    CONSULT + "/submit",
    summary="Submit a draft",
    roles={Role.DOCTOR},
    response=s.ConsultOut,
    errors=(404, 409),
)
async def submit(call: Call[None, Any]) -> s.ConsultOut:
    """The response deadline starts now."""
    return await _consults(call).submit(call.principal, call.audit, _id(call))


@routes.post(
    CONSULT + "/amend",
    summary="Amend a submitted request",
    roles={Role.DOCTOR},
    body=s.ConsultAmend,
    response=s.ConsultOut,
    errors=(404, 409),
)
async def amend(call: Call[s.ConsultAmend, Any]) -> s.ConsultOut:
    """A new version; the previous values are kept."""
    return await _consults(call).amend(call.principal, call.audit, _id(call), call.body)


@routes.post(
    CONSULT + "/cancel",
    summary="Withdraw a request",
    roles={Role.DOCTOR},
    body=s.ReasonIn,
    response=s.ConsultOut,
    errors=(404, 409),
)
async def cancel(call: Call[s.ReasonIn, Any]) -> s.ConsultOut:
    """The requester withdraws it before it is answered."""
    return await _consults(call).cancel(call.principal, call.audit, _id(call), call.body)


@routes.post(
    CONSULT + "/accept",
    summary="Take the request from the queue",
    roles={Role.SPECIALIST},
    response=s.ConsultOut,
    errors=(404, 409),
)
async def accept(call: Call[None, Any]) -> s.ConsultOut:
    """The first to accept leads; later ones join."""
    return await _consults(call).accept(call.principal, call.audit, _id(call))


@routes.post(
    CONSULT + "/decline",
    summary="Decline with a reason",
    roles={Role.SPECIALIST},
    body=s.ReasonIn,
    response=s.ConsultOut,
    errors=(404, 409),
)
async def decline(call: Call[s.ReasonIn, Any]) -> s.ConsultOut:
    """Named to me: back to the specialty queue; otherwise declined for the specialty."""
    return await _consults(call).decline(call.principal, call.audit, _id(call), call.body)


@routes.post(
    CONSULT + "/assign",
    summary="Reassign to or add a colleague",
    roles={Role.SPECIALIST},
    body=s.AssignIn,
    response=s.ConsultOut,
    errors=(404, 409),
)
async def assign(call: Call[s.AssignIn, Any]) -> s.ConsultOut:
    """`mode=reassign` hands over; `mode=add` makes it multi-disciplinary."""
    return await _consults(call).assign(call.principal, call.audit, _id(call), call.body)


@routes.post(
    CONSULT + "/request-info",
    summary="Ask the requester for more information",
    roles={Role.SPECIALIST},
    body=s.InfoRequestIn,
    response=s.ConsultOut,
    errors=(404, 409),
)
async def request_info(call: Call[s.InfoRequestIn, Any]) -> s.ConsultOut:
    """The request then waits on the requester."""
    return await _consults(call).request_info(call.principal, call.audit, _id(call), call.body)


@routes.post(
    CONSULT + "/messages",
    summary="Write on the consult",
    roles=CLINICIANS,
    body=s.MessageIn,
    response=s.TimelineEntry,
    status=201,
    errors=(404, 409, 429),
)
async def post_message(call: Call[s.MessageIn, Any]) -> s.TimelineEntry:
    """Between the requester and the specialists."""
    return await _consults(call).post_message(call.principal, call.audit, _id(call), call.body)


@routes.get(
    CONSULT + "/timeline",
    summary="The consult's timeline",
    roles=CLINICIANS,
    response=s.TimelineOut,
    errors=(404,),
)
async def timeline(call: Call[None, Any]) -> s.TimelineOut:
    """Every state change, message, attachment and opinion, oldest first."""
    return await _consults(call).timeline(call.principal, _id(call), call.audit)


@routes.post(
    CONSULT + "/opinion",
    summary="Sign a written opinion",
    roles={Role.SPECIALIST},
    body=s.OpinionIn,
    response=s.ConsultOut,
    errors=(404, 409),
)
async def sign_opinion(call: Call[s.OpinionIn, Any]) -> s.ConsultOut:
    """Signed by the caller with a content hash; a later one is an amendment."""
    return await _consults(call).sign_opinion(call.principal, call.audit, _id(call), call.body)


@routes.get(
    CONSULT + "/opinions",
    summary="Every version of the opinion",
    roles=CLINICIANS,
    response=list[s.OpinionOut],
    errors=(404,),
)
async def opinions(call: Call[None, Any]) -> list[s.OpinionOut]:
    """Oldest first."""
    return await _consults(call).opinions(call.principal, _id(call), call.audit)


@routes.get(
    CONSULT + "/amendments",
    summary="What each amendment of the request changed",
    roles=CLINICIANS,
    response=list[s.AmendmentOut],
    errors=(404,),
)
async def amendments(call: Call[None, Any]) -> list[s.AmendmentOut]:
    """Oldest first, each with the values it replaced."""
    return await _consults(call).amendments(call.principal, _id(call), call.audit)


@routes.post(
    CONSULT + "/schedule",
    summary="Schedule a live session",
    roles={Role.SPECIALIST},
    body=s.ScheduleIn,
    response=s.ConsultOut,
    errors=(404, 409),
)
async def schedule(call: Call[s.ScheduleIn, Any]) -> s.ConsultOut:
    """A time with the parties; the relay room comes with the live-room issues."""
    return await _consults(call).schedule_session(call.principal, call.audit, _id(call), call.body)
