"""Who may see, file, triage and answer which consult.

Parties: the requester and the doctors of the requesting facility (the care team), the
assigned specialists, and -- while a request waits in a queue -- the specialists the queue
is for: the one it is named to, those of the facility it names, and, when it names
neither, those of its specialty at the hub hospitals (central and provincial, the levels
that keep an on-call rota). Admins see metadata but no clinical content unless they are
parties themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from telehealth.accounts.models import FacilityLevel, Role
from telehealth.auth.principal import Principal
from telehealth.consults.models import OPEN_STATUSES, ConsultRequest, ConsultStatus
from telehealth.errors import Forbidden, NotFound


class Access(Enum):
    """How much of a consult a caller may see."""

    NONE = 0
    METADATA = 1
    CLINICAL = 2


# Hospitals whose specialists answer requests that name no facility.
HUB_LEVELS = frozenset({FacilityLevel.CENTRAL.value, FacilityLevel.PROVINCIAL.value})


@dataclass(frozen=True)
class Viewer:
    """What the policy needs to know about the caller beyond the principal."""

    principal: Principal
    practitioner_id: str | None
    specialties: frozenset[str]
    at_hub: bool = False  # works at a hub hospital (HUB_LEVELS)


def in_queue_of(viewer: Viewer, consult: ConsultRequest) -> bool:
    """True if the request waits in a queue this specialist serves."""
    p = viewer.principal
    if not p.has(Role.SPECIALIST) or consult.status not in {s.value for s in OPEN_STATUSES}:
        return False
    if consult.target_practitioner_id and consult.target_practitioner_id == viewer.practitioner_id:
        return True
    if consult.specialty_code not in viewer.specialties:
        return False
    if consult.target_facility_id is not None:
        return consult.target_facility_id == p.facility_id
    return viewer.at_hub


def access(viewer: Viewer, consult: ConsultRequest, assignees: set[str]) -> Access:
    """How much of `consult` the viewer may see."""
    p = viewer.principal
    if consult.requester_id == p.user_id:
        return Access.CLINICAL
    if consult.status == ConsultStatus.DRAFT.value:
        return Access.METADATA if p.has(Role.ADMIN) else Access.NONE
    if viewer.practitioner_id in assignees or in_queue_of(viewer, consult):
        return Access.CLINICAL
    if p.has(Role.DOCTOR) and p.facility_id == consult.requesting_facility_id:
        return Access.CLINICAL
    return Access.METADATA if p.has(Role.ADMIN) else Access.NONE


def ensure_clinical(viewer: Viewer, consult: ConsultRequest | None, assignees: set[str]) -> None:
    """NotFound unless the viewer may see the clinical content."""
    if consult is None or access(viewer, consult, assignees) is not Access.CLINICAL:
        raise NotFound("No such consult.")


def ensure_requester(viewer: Viewer, consult: ConsultRequest) -> None:
    """Only the doctor who filed the request may change it."""
    if consult.requester_id != viewer.principal.user_id:
        raise Forbidden("Only the requesting doctor can change this request.")


def ensure_assignee(viewer: Viewer, assignees: set[str]) -> None:
    """Only a specialist working on the consult may answer or hand it over."""
    if viewer.practitioner_id is None or viewer.practitioner_id not in assignees:
        raise Forbidden("Accept the consult first.")


def ensure_triage(viewer: Viewer, consult: ConsultRequest, assignees: set[str]) -> None:
    """Accepting or declining: a specialist of the queue, or one already assigned."""
    if viewer.practitioner_id in assignees or in_queue_of(viewer, consult):
        return
    raise Forbidden("This request is not in your queue.")


def ensure_decliner(viewer: Viewer, consult: ConsultRequest, assignees: set[str]) -> None:
    """Declining: a specialist of the queue while nobody has taken the request; once taken,
    only the specialists working on it (a colleague may not close it under them)."""
    ensure_triage(viewer, consult, assignees)
    if assignees and viewer.practitioner_id not in assignees:
        raise Forbidden("Colleagues are working on this consult: only they can decline it.")
