"""Request and response models of the rooms API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from telehealth.accounts.schemas import In, Out, PageQuery
from telehealth.rooms.models import RoomKind, RoomMode, RoomState
from telehealth.rooms.parties import PeerRole

__all__ = [
    "Diagnosis",
    "EncounterFacts",
    "EventPage",
    "IceServerOut",
    "JoinOut",
    "OutcomeIn",
    "OutcomeOut",
    "ParticipantOut",
    "RoomEventOut",
    "RoomOut",
    "VisitDisposition",
]

# ICD-10 (WHO, as used by Vietnam's Ministry of Health): a letter, two digits, and an
# optional dot with up to four more characters (A09, J45.9, S72.00).
ICD10_PATTERN = r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$"
LongText = Annotated[str, Field(max_length=4000)]


class VisitDisposition(StrEnum):
    """Where the patient goes after the visit."""

    HOME = "home"  # treated, nothing more needed
    FOLLOW_UP = "follow_up"  # another visit is planned
    REFERRED = "referred"  # to a specialist or another facility
    IN_PERSON = "in_person"  # must be seen in person
    EMERGENCY = "emergency"  # sent to emergency care now


class Diagnosis(In):
    """The working diagnosis: an ICD-10 code and its words."""

    code: Annotated[str, Field(min_length=3, max_length=8, pattern=ICD10_PATTERN)]
    text: Annotated[str, Field(min_length=1, max_length=500)]


class OutcomeIn(In):
    """The clinical outcome of a visit; `reason` is required for a correction."""

    summary: Annotated[str, Field(min_length=1, max_length=4000)]
    diagnosis: Diagnosis
    plan: LongText = ""
    prescriptions: LongText = ""
    disposition: VisitDisposition
    follow_up: Annotated[str, Field(max_length=1000)] = ""
    reason: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class OutcomeOut(Out):
    """One version of a visit's outcome."""

    room_id: str
    appointment_id: str | None
    version: int
    author_id: str
    summary: str
    diagnosis: Diagnosis
    plan: str
    prescriptions: str
    disposition: VisitDisposition
    follow_up: str
    reason: str | None
    created_at: datetime


class IceServerOut(Out):
    """One STUN/TURN server for the browser's RTCPeerConnection."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class JoinOut(Out):
    """What a client needs to connect to the room's signalling."""

    room_id: str
    token: str
    expires_at: datetime
    signalling_url: str
    namespace: str
    path: str
    mode: RoomMode
    role: PeerRole
    peer_id: str
    state: RoomState
    ice_servers: list[IceServerOut]


class ParticipantOut(Out):
    """Somebody in the room now."""

    peer_id: str
    user_id: str
    name: str
    role: PeerRole
    admitted: bool
    since: datetime


class RoomOut(Out):
    """A room as its parties see it; the waiting list is the host's only."""

    id: str
    kind: RoomKind
    mode: RoomMode
    state: RoomState
    subject_id: str
    scheduled_at: datetime | None
    ends_at: datetime | None
    opens_at: datetime | None
    live_at: datetime | None
    ended_at: datetime | None
    your_role: PeerRole
    participants: list[ParticipantOut]
    waiting: list[ParticipantOut] | None
    outcome_version: int | None


class RoomEventOut(Out):
    """One entry of the room's log."""

    id: str
    kind: str
    at: datetime
    actor_id: str | None
    peer_id: str | None
    details: dict[str, Any]


class EventPage(Out):
    """A page of the room's log, oldest first."""

    items: list[RoomEventOut]
    next: str | None


class EventQuery(PageQuery):
    """`?limit=&cursor=` of the event log."""


class EncounterFacts(Out):
    """A visit as a FHIR Encounter shows it."""

    room_id: str
    state: RoomState
    appointment_id: str
    patient_id: str
    practitioner_id: str
    mode: str
    reason: str
    appointment_status: str
    started: datetime | None
    ended: datetime | None
    outcome: OutcomeOut | None
