"""The relay's `/rtc` events: thin handlers that validate, call the relay rooms and answer
(through the namespace's ack envelope). Registered by the namespace next to the others.

| event | payload | ack data |
| --- | --- | --- |
| `publish` | `{sdp, type: "offer"}` | `{sdp, type: "answer"}` |
| `unpublish` | `{}` | `{}` |
| `subscribe` | `{}` | `{sdp, type: "offer", tracks}` (`sdp` null while nobody publishes) |
| `subscribe-answer`, `renegotiate` | `{sdp, type: "answer"}` | `{}` |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from pydantic import Field

from telehealth.rooms.live import Connection
from telehealth.rooms.relay.service import RelayRooms
from telehealth.signalling.schemas import MAX_SDP_BYTES, Empty, Payload, parse

__all__ = ["RelayEvents"]

Sdp = Annotated[str, Field(min_length=1, max_length=MAX_SDP_BYTES)]
Handler = Callable[[Connection, Any], Awaitable[Any]]


class PublishOffer(Payload):
    """`publish`: the participant's offer of its camera, microphone and screen."""

    type: Literal["offer"]
    sdp: Sdp


class RelayAnswer(Payload):
    """`subscribe-answer` and `renegotiate`: the answer to the relay's last offer."""

    type: Literal["answer"] = "answer"
    sdp: Sdp


class RelayEvents:
    """Handlers of the relay events, and the teardown of a departing connection's legs."""

    def __init__(self, rooms: Callable[[], RelayRooms]) -> None:
        self._rooms = rooms

    def handlers(self) -> dict[str, Handler]:
        """Event name -> handler, for the namespace's dispatcher."""
        return {
            "publish": self._publish,
            "unpublish": self._unpublish,
            "subscribe": self._subscribe,
            "subscribe-answer": self._answer,
            "renegotiate": self._answer,
        }

    async def _publish(self, conn: Connection, data: Any) -> Any:
        return await self._rooms().publish(conn, parse(PublishOffer, data).sdp)

    async def _unpublish(self, conn: Connection, data: Any) -> Any:
        parse(Empty, data)
        await self._rooms().unpublish(conn)

    async def _subscribe(self, conn: Connection, data: Any) -> Any:
        parse(Empty, data)
        return await self._rooms().subscribe(conn)

    async def _answer(self, conn: Connection, data: Any) -> Any:
        await self._rooms().answer(conn, parse(RelayAnswer, data).sdp)

    async def withdrawn(self, conn: Connection, peer_id: str) -> None:
        """The presenter took the floor from `peer_id`: its media stops reaching the room."""
        await self._rooms().withdraw(conn.room_id, peer_id)

    async def gone(self, conn: Connection) -> None:
        """End the media legs of a connection that left or dropped."""
        await self._rooms().gone(conn)
