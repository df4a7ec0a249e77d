"""Relay rooms as the signalling layer uses them: who may publish and subscribe in which
room, the relay workers' answers and offers, their notices turned into `/rtc` events,
and the teardown of a participant's media legs when they leave, drop or the room ends.

It knows nothing of Socket.IO: it talks to connections through the live rooms' `Emitter`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable
from typing import Any, Final, Protocol, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.config import Settings
from telehealth.db.uow import UnitOfWork
from telehealth.errors import DomainError, ErrorCode, Forbidden, NotFound, Unprocessable
from telehealth.rooms.live import Connection, Emitter, peer_channel, room_channel
from telehealth.rooms.models import RoomMode
from telehealth.rooms.relay.errors import RelayError, RelayErrorCode
from telehealth.rooms.relay.pool import RelayWorkers
from telehealth.rooms.repository import RoomRepository

__all__ = ["RelayRooms", "may_publish"]

log = logging.getLogger("telehealth.relay")
T = TypeVar("T")

# How a relay refusal reaches the client's ack envelope.
_CODES: Final = {
    RelayErrorCode.UNSUPPORTED_MEDIA: ErrorCode.UNSUPPORTED_MEDIA,
    RelayErrorCode.TOO_MANY_TRACKS: ErrorCode.VALIDATION_ERROR,
    RelayErrorCode.NOTHING_PUBLISHED: ErrorCode.VALIDATION_ERROR,
    RelayErrorCode.INVALID_REQUEST: ErrorCode.VALIDATION_ERROR,
    RelayErrorCode.NO_OFFER: ErrorCode.INVALID_TRANSITION,
    RelayErrorCode.RELAY_UNAVAILABLE: ErrorCode.RELAY_UNAVAILABLE,
    RelayErrorCode.RELAY_FULL: ErrorCode.RELAY_FULL,
    RelayErrorCode.MEDIA_FAILED: ErrorCode.RELAY_UNAVAILABLE,
    RelayErrorCode.INTERNAL: ErrorCode.INTERNAL,
}


async def may_publish(conn: Connection) -> bool:
    """Whether this participant may send media into its relay room: every admitted party.
    (The app passes `LiveRooms.may_publish`, which narrows teaching rooms to the presenter
    and whoever has the floor.)"""
    return conn.admitted


class PublishPolicy(Protocol):
    """Who may publish (replaceable, so that teaching rooms can add the floor)."""

    async def __call__(self, conn: Connection) -> bool: ...


class RelayRooms:
    """Publishing and subscribing in relay rooms, through this node's relay workers."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        emitter: Emitter,
        policy: PublishPolicy = may_publish,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._emitter = emitter
        self._policy = policy
        self._modes: dict[str, str] = {}
        # The relay's own peers use no STUN/TURN server: they answer from the addresses of
        # TELEHEALTH_MEDIA_ADDRESSES, which clients must reach (an unreachable server would
        # add 5 s to every answer, since aiortc gathers every candidate before answering).
        self.workers = RelayWorkers(
            settings.relay.workers,
            self._notify,
            settings.rooms.media_addresses,
            (),
            settings.relay.max_streams_per_worker,
        )

    async def publish(self, conn: Connection, sdp: str) -> dict[str, Any]:
        """The participant's offer -> the relay's answer."""
        await self._require_relay(conn)
        if not await self._policy(conn):
            raise Forbidden("You may not send media in this room.")
        answer = await _mapped(self.workers.publish(conn.room_id, conn.peer_id, sdp))
        return {"sdp": answer, "type": "answer"}

    async def unpublish(self, conn: Connection) -> None:
        """Stop sending the participant's media to the others."""
        await self._require_relay(conn)
        await _mapped(self.workers.unpublish(conn.room_id, conn.peer_id))

    async def withdraw(self, room_id: str, peer_id: str) -> None:
        """Stop forwarding a participant's media because it may no longer send (a trainee
        whose floor was taken); nothing to do if it published nothing."""
        if self._modes.get(room_id) != RoomMode.RELAY.value:
            return
        with contextlib.suppress(RelayError):
            await self.workers.unpublish(room_id, peer_id)

    async def subscribe(self, conn: Connection) -> dict[str, Any]:
        """A receiving leg: the relay's offer of what the others publish."""
        await self._require_relay(conn)
        return await _mapped(self.workers.subscribe(conn.room_id, conn.peer_id))

    async def answer(self, conn: Connection, sdp: str) -> None:
        """The participant's answer to the relay's last offer (a newer offer follows as
        `renegotiate` if the room changed meanwhile)."""
        await self._require_relay(conn)
        again = await _mapped(self.workers.answer(conn.room_id, conn.peer_id, sdp))
        if again is not None and again.get("sdp"):
            await self._notify(conn.room_id, conn.peer_id, "renegotiate", again)

    async def gone(self, conn: Connection) -> None:
        """The participant left or dropped: its media legs end."""
        if self._modes.get(conn.room_id) != RoomMode.RELAY.value:
            return
        # If its worker died, nothing of it is left to end.
        with contextlib.suppress(RelayError):
            await self.workers.leave(conn.room_id, conn.peer_id)

    async def ended(self, room_id: str) -> None:
        """The room ended: every media leg of it ends."""
        with contextlib.suppress(RelayError):
            await self.workers.close_room(room_id)
        self._modes.pop(room_id, None)

    async def stop(self) -> None:
        """Stop the relay workers."""
        await self.workers.stop()

    async def _require_relay(self, conn: Connection) -> None:
        conn.require_admitted()
        mode = self._modes.get(conn.room_id)
        if mode is None:
            async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
                room = await RoomRepository(uow.session).room(conn.room_id)
                if room is None:
                    raise NotFound("No such room.")
                mode = room.mode
            self._modes[conn.room_id] = mode
        if mode != RoomMode.RELAY.value:
            raise Unprocessable(
                "This room's media goes peer to peer: use signal.",
                code=ErrorCode.INVALID_TRANSITION,
            )

    async def _notify(
        self, room_id: str, peer_id: str | None, event: str, data: dict[str, Any]
    ) -> None:
        to = room_channel(room_id) if peer_id is None else peer_channel(room_id, peer_id)
        await self._emitter.emit(event, data, to, None)


async def _mapped(work: Awaitable[T]) -> T:
    try:
        return await work
    except RelayError as error:
        raise DomainError(error.detail, code=_CODES[error.code]) from None


class RelayCollector(Collector):
    """`/metrics`: rooms, peer connections and forwarded streams per relay worker."""

    def __init__(self, rooms: RelayRooms) -> None:
        self._rooms = rooms

    def collect(self) -> Any:
        """Each worker's load as of its last reply."""
        families = {
            "rooms": GaugeMetricFamily(
                "telehealth_relay_rooms", "Relay rooms per worker", labels=["worker"]
            ),
            "peers": GaugeMetricFamily(
                "telehealth_relay_peers", "Relay peer connections per worker", labels=["worker"]
            ),
            "forwarded": GaugeMetricFamily(
                "telehealth_relay_forwarded_streams",
                "Forwarded streams (a published track to one subscriber) per worker",
                labels=["worker"],
            ),
        }
        for stats in self._rooms.workers.snapshot():
            for name, family in families.items():
                family.add_metric([str(stats.worker)], getattr(stats, name))
        yield from families.values()


def register_metrics(registry: CollectorRegistry, rooms: RelayRooms) -> RelayCollector:
    """Add the relay's gauges to the app's registry."""
    collector = RelayCollector(rooms)
    registry.register(collector)
    return collector
