"""Payloads of the `/rtc` client events: validated before anything else looks at them."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from telehealth.errors import DomainError, ErrorCode, InvalidInput

__all__ = [
    "MAX_CHAT_CHARS",
    "MAX_SDP_BYTES",
    "Admit",
    "Chat",
    "Empty",
    "Hand",
    "Report",
    "Signal",
    "parse",
]

M = TypeVar("M", bound=BaseModel)
MAX_SDP_BYTES: Final = 64 * 1024
MAX_CHAT_CHARS: Final = 2000
MAX_CANDIDATE_CHARS: Final = 1024
# Larger than any valid event (an SDP plus its envelope): refused before parsing.
MAX_EVENT_BYTES: Final = MAX_SDP_BYTES + 4096
PeerId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


class Payload(BaseModel):
    """Base of event payloads: exact types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Empty(Payload):
    """An event without fields (`join`, `leave`)."""


class Description(Payload):
    """An offer or answer (RTCSessionDescriptionInit)."""

    type: Literal["offer", "answer"]
    sdp: Annotated[str, Field(min_length=1, max_length=MAX_SDP_BYTES)]


class Candidate(Payload):
    """One trickled ICE candidate (RTCIceCandidateInit); an empty string ends gathering."""

    candidate: Annotated[str, Field(max_length=MAX_CANDIDATE_CHARS)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None  # WebRTC's field names
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None
    usernameFragment: Annotated[str, Field(max_length=256)] | None = None


class Signal(Payload):
    """`signal`: an offer, answer or candidate for one peer of the room."""

    to: PeerId
    type: Literal["offer", "answer", "candidate"]
    payload: Description | Candidate | None

    @pydantic.model_validator(mode="after")
    def _payload_matches_type(self) -> Signal:
        expected = Candidate if self.type == "candidate" else Description
        if self.payload is None and self.type == "candidate":
            return self  # end of candidates
        if not isinstance(self.payload, expected):
            raise ValueError(f"a {self.type} carries a {expected.__name__.lower()}")
        if isinstance(self.payload, Description) and self.payload.type != self.type:
            raise ValueError("payload.type must match type")
        return self


class Chat(Payload):
    """`chat`: a message to everyone in the room."""

    text: Annotated[str, Field(min_length=1, max_length=MAX_CHAT_CHARS)]


class Hand(Payload):
    """`hand`: raise or lower a hand."""

    raised: bool


class Floor(Payload):
    """`floor`: the presenter of a teaching room gives or takes a trainee's floor."""

    peer_id: PeerId
    give: bool


class Admit(Payload):
    """`admit`: the host lets one waiting peer in."""

    peer_id: PeerId


Bounded = Annotated[float, Field(ge=0, le=1e7, allow_inf_nan=False)]


class Report(Payload):
    """`report`: what the client saw of its connection, for the room's log."""

    kind: Literal["media", "ice", "quality", "audio_only"]
    state: Annotated[str, Field(max_length=32, pattern=r"^[a-z-]+$")] | None = None
    on: bool | None = None
    reason: Literal["user", "auto"] | None = None
    rtt_ms: Bounded | None = None
    loss_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    bitrate_kbps: Bounded | None = None
    width: Annotated[int, Field(ge=0, le=10000)] | None = None
    height: Annotated[int, Field(ge=0, le=10000)] | None = None
    fps: Annotated[float, Field(ge=0, le=240, allow_inf_nan=False)] | None = None

    @pydantic.model_validator(mode="after")
    def _fields_of_kind(self) -> Report:
        needs = {"media": "state", "ice": "state", "audio_only": "on", "quality": "rtt_ms"}
        if getattr(self, needs[self.kind]) is None:
            raise ValueError(f"a {self.kind} report needs {needs[self.kind]}")
        return self

    def details(self) -> dict[str, Any]:
        """The fields given, for the log."""
        return self.model_dump(exclude_none=True, exclude={"kind"})


def parse(model: type[M], data: Any) -> M:
    """Validate one event payload, or raise a domain error with a stable code."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput("The payload must be a JSON object.")
    if _too_big(data):
        raise DomainError("The payload is too large.", code=ErrorCode.PAYLOAD_TOO_LARGE)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        summary = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in errors)
        raise InvalidInput(f"Invalid payload: {summary}"[:500]) from None


def _too_big(data: dict[str, Any]) -> bool:
    # Strings are what can be large; count them without serialising the whole payload.
    total = 0
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_SDP_BYTES:
                return True
            total += len(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        if total > MAX_EVENT_BYTES:
            return True
    return False
