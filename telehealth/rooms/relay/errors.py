"""The relay's refusals, with stable codes that travel unchanged from a relay worker to the
client's ack envelope."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RelayError", "RelayErrorCode"]


class RelayErrorCode(StrEnum):
    """Stable machine codes of the relay."""

    UNSUPPORTED_MEDIA = "unsupported_media"  # no VP8/Opus, or an SDP aiortc cannot use
    TOO_MANY_TRACKS = "too_many_tracks"
    NOTHING_PUBLISHED = "nothing_published"
    NO_OFFER = "no_offer"  # an answer with no relay offer waiting for it
    MEDIA_FAILED = "media_failed"  # ICE/DTLS of a leg failed: build it again
    RELAY_UNAVAILABLE = "relay_unavailable"  # the room's worker died or is restarting
    RELAY_FULL = "relay_full"  # the capacity guard
    INVALID_REQUEST = "invalid_request"  # a malformed request on the worker channel
    INTERNAL = "internal_error"


class RelayError(Exception):
    """A relay request that cannot be carried out; the code tells the client what to do."""

    def __init__(self, code: RelayErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
