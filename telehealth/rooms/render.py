"""Rows of rooms as the API shows them."""

from __future__ import annotations

from telehealth.rooms import schemas as s
from telehealth.rooms.models import RoomOutcome, RoomPresence


def render_presence(row: RoomPresence) -> s.ParticipantOut:
    """Somebody in the room."""
    return s.ParticipantOut(
        peer_id=row.peer_id,
        user_id=row.user_id,
        name=row.name,
        role=row.role,
        admitted=row.admitted,
        since=row.waiting_since,
    )


def render_outcome(row: RoomOutcome, appointment_id: str | None) -> s.OutcomeOut:
    """One version of an outcome."""
    return s.OutcomeOut(
        room_id=row.room_id,
        appointment_id=appointment_id,
        version=row.version,
        author_id=row.author_id,
        summary=row.summary,
        diagnosis=s.Diagnosis(code=row.diagnosis_code, text=row.diagnosis_text),
        plan=row.plan,
        prescriptions=row.prescriptions,
        disposition=row.disposition,
        follow_up=row.follow_up,
        reason=row.reason,
        created_at=row.created_at,
    )
