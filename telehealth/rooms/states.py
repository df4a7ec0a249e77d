"""The room state machine as an explicit table: which state may follow which, and why."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from telehealth.errors import ErrorCode, Unprocessable
from telehealth.rooms.models import RoomState

__all__ = ["TRANSITIONS", "RoomTrigger", "ensure_transition", "next_state"]


class RoomTrigger(StrEnum):
    """What moves a room."""

    OPEN = "open"  # the opening time has come
    GO_LIVE = "go_live"  # the parties are together (a visit: the host admitted the patient)
    END = "end"  # the host ended it, or the outcome was recorded
    EXPIRE = "expire"  # empty for the grace period
    CANCEL = "cancel"  # the appointment was cancelled or marked no-show


S = RoomState
TRANSITIONS: Final[dict[tuple[RoomState, RoomTrigger], RoomState]] = {
    (S.SCHEDULED, RoomTrigger.OPEN): S.OPEN,
    (S.OPEN, RoomTrigger.GO_LIVE): S.LIVE,
    (S.SCHEDULED, RoomTrigger.END): S.ENDED,  # an outcome recorded without a call (by phone)
    (S.OPEN, RoomTrigger.END): S.ENDED,
    (S.LIVE, RoomTrigger.END): S.ENDED,
    (S.OPEN, RoomTrigger.EXPIRE): S.ENDED,
    (S.LIVE, RoomTrigger.EXPIRE): S.ENDED,
    (S.SCHEDULED, RoomTrigger.CANCEL): S.ENDED,
    (S.OPEN, RoomTrigger.CANCEL): S.ENDED,
    (S.LIVE, RoomTrigger.CANCEL): S.ENDED,
}


def next_state(state: RoomState, trigger: RoomTrigger) -> RoomState | None:
    """The state `trigger` leads to from `state`, or None when it does not apply."""
    return TRANSITIONS.get((state, trigger))


def ensure_transition(state: RoomState, trigger: RoomTrigger) -> RoomState:
    """The next state; raises `invalid_transition`, naming the state, when there is none."""
    target = next_state(state, trigger)
    if target is None:
        raise Unprocessable(
            f"A room that is {state.value} cannot {trigger.value.replace('_', ' ')}.",
            code=ErrorCode.INVALID_TRANSITION,
        )
    return target
