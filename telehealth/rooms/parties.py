"""Who may be in a room, and as what: pure rules over the room's subject."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = ["Parties", "PeerRole", "peer_id_for"]


class PeerRole(StrEnum):
    """A person's part in a room."""

    HOST = "host"  # runs the room: admits, records the outcome; a teaching room's presenter
    PATIENT = "patient"  # the patient's side of a visit: waits until admitted
    # A consult's requesting doctor, an enrolled trainee: in directly (a trainee watches
    # until the presenter gives the floor, telehealth/teaching/floor.py).
    PARTICIPANT = "participant"


ADMITTED_ON_ARRIVAL: Final = frozenset({PeerRole.HOST, PeerRole.PARTICIPANT})


@dataclass(frozen=True)
class Parties:
    """The people of one room's subject and whether the subject still runs."""

    hosts: frozenset[str]
    patient_side: frozenset[str] = frozenset()
    participants: frozenset[str] = frozenset()
    # False once the appointment is cancelled or closed, or the consult is over.
    active: bool = True
    patient_id: str | None = None
    appointment_id: str | None = None
    practitioner_ids: frozenset[str] = field(default_factory=frozenset)

    def role_of(self, user_id: str) -> PeerRole | None:
        """The part `user_id` plays, or None for a stranger. A host who also booked the
        visit for the patient is the host."""
        if user_id in self.hosts:
            return PeerRole.HOST
        if user_id in self.patient_side:
            return PeerRole.PATIENT
        if user_id in self.participants:
            return PeerRole.PARTICIPANT
        return None


def peer_id_for(room_id: str, user_id: str) -> str:
    """A person's peer id in one room: the same across reconnects, so the others see the
    same person come back; it addresses nobody outside that room."""
    return "p" + hashlib.sha256(f"{room_id}:{user_id}".encode()).hexdigest()[:15]
