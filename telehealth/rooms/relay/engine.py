"""The relay engine of one process: per room, who publishes which tracks and who receives
them, as server-side peer connections. The engine drives renegotiation (aiortc has no
`negotiationneeded`): when a publisher comes or goes, every other subscriber gets a new
offer through `Notify`. Changes of one room are serialised by a per-room lock; every peer
connection and task has this engine as its owner and ends with `leave`, `close_room` or
`close`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from telehealth.rooms.relay.aiortc_adapter import (
    Fanout,
    Forwarding,
    IceServerConfig,
    MediaPeer,
    use_host_addresses,
)
from telehealth.rooms.relay.errors import RelayError, RelayErrorCode
from telehealth.rooms.relay.tasks import OwnedTasks

__all__ = ["Notify", "Offer", "RelayEngine", "RelayStats", "TrackInfo"]

log = logging.getLogger("telehealth.relay")

# A publisher sends at most a camera, a screen and a microphone.
MAX_PUBLISHED_VIDEO: Final = 2
MAX_PUBLISHED_AUDIO: Final = 1

# (room, peer, event, data): tell one participant something (a new offer, a failed leg).
Notify = Callable[[str, str, str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class TrackInfo:
    """A forwarded track as the subscriber sees it: its m-line, whose it is, what it is."""

    mid: str
    peer_id: str
    kind: str
    source: str  # "camera", "screen" or "microphone"

    def as_dict(self) -> dict[str, str]:
        """For the signalling payload."""
        return {"mid": self.mid, "peer_id": self.peer_id, "kind": self.kind, "source": self.source}


@dataclass(frozen=True)
class Offer:
    """The relay's offer to a subscriber (`sdp` is None while nobody publishes)."""

    sdp: str | None
    tracks: tuple[TrackInfo, ...]

    def as_dict(self) -> dict[str, Any]:
        """For the signalling payload."""
        return {
            "sdp": self.sdp,
            "type": "offer" if self.sdp else None,
            "tracks": [t.as_dict() for t in self.tracks],
        }


@dataclass(frozen=True)
class RelayStats:
    """What this engine carries now."""

    rooms: int
    peers: int
    forwarded: int
    tasks: int
    keyframe_requests: int = 0


@dataclass
class _Published:
    peer: MediaPeer
    sources: dict[str, tuple[str, Fanout]]  # mid -> (source, fan-out)


@dataclass
class _Subscribed:
    peer: MediaPeer
    forwards: dict[tuple[str, str], tuple[Forwarding, str]] = field(default_factory=dict)
    offered: bool = False
    stale: bool = False  # changed while an offer was out: offer again on the answer


@dataclass
class _Room:
    publishers: dict[str, _Published] = field(default_factory=dict)
    subscribers: dict[str, _Subscribed] = field(default_factory=dict)


class RelayEngine:
    """The relay rooms of one process."""

    def __init__(
        self,
        notify: Notify,
        ice_servers: tuple[IceServerConfig, ...] = (),
        media_addresses: tuple[str, ...] = (),
        max_streams: int | None = None,
    ) -> None:
        use_host_addresses(media_addresses)
        self._max_streams = max_streams
        self._notify = notify
        self._ice = ice_servers
        self._rooms: dict[str, _Room] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks = OwnedTasks()

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, room_id: str, peer_id: str, sdp: str) -> str:
        """Accept a participant's offer of its tracks; answer it and offer the tracks to
        everyone else in the room. Publishing again replaces the previous publication."""
        async with self._room(room_id) as room:
            await self._drop_publisher(room_id, room, peer_id)
            peer = MediaPeer(self._ice, self._on_state(room_id, peer_id, "publish"))
            try:
                answer = await peer.answer(sdp)
                sources = _sources(peer)
            except (ValueError, RelayError) as error:
                await peer.close()
                raise _refused(error) from None
            except Exception:
                await peer.close()
                raise
            receivers = sum(1 for s in room.subscribers if s != peer_id)
            try:
                self._guard(len(sources) * receivers)
            except RelayError:
                await peer.close()
                raise
            room.publishers[peer_id] = _Published(peer, sources)
            for subscriber_id, subscriber in room.subscribers.items():
                if subscriber_id != peer_id:
                    self._forward_publisher(subscriber, peer_id, sources)
                    await self._reoffer(room_id, subscriber_id, subscriber)
            return answer

    async def unpublish(self, room_id: str, peer_id: str) -> None:
        """Stop forwarding a participant's tracks (subscribers get a new offer)."""
        async with self._room(room_id) as room:
            await self._drop_publisher(room_id, room, peer_id)

    async def _drop_publisher(self, room_id: str, room: _Room, peer_id: str) -> None:
        published = room.publishers.pop(peer_id, None)
        if published is None:
            return
        for subscriber_id, subscriber in room.subscribers.items():
            gone = [key for key in subscriber.forwards if key[0] == peer_id]
            for key in gone:
                forwarding, _ = subscriber.forwards.pop(key)
                subscriber.peer.unforward(forwarding)
            if gone:
                await self._reoffer(room_id, subscriber_id, subscriber)
        await published.peer.close()

    # -- subscribing ----------------------------------------------------------------------

    async def subscribe(self, room_id: str, peer_id: str) -> Offer:
        """A new receiving leg for a participant: the offer of every track published by the
        others (later changes arrive as `renegotiate` offers)."""
        async with self._room(room_id) as room:
            old = room.subscribers.pop(peer_id, None)
            if old is not None:
                await old.peer.close()
            self._guard(sum(len(p.sources) for i, p in room.publishers.items() if i != peer_id))
            subscriber = _Subscribed(
                MediaPeer(self._ice, self._on_state(room_id, peer_id, "subscribe"))
            )
            room.subscribers[peer_id] = subscriber
            for publisher_id, published in room.publishers.items():
                if publisher_id != peer_id:
                    self._forward_publisher(subscriber, publisher_id, published.sources)
            return await self._offer(subscriber)

    async def answer(self, room_id: str, peer_id: str, sdp: str) -> Offer | None:
        """A subscriber's answer to the relay's last offer. If the room changed meanwhile,
        the answer to that is the next offer."""
        async with self._room(room_id) as room:
            subscriber = room.subscribers.get(peer_id)
            if subscriber is None or not subscriber.peer.awaiting_answer:
                raise RelayError(
                    RelayErrorCode.NO_OFFER, "No offer of the relay is waiting for an answer."
                )
            try:
                await subscriber.peer.accept(sdp)
            except ValueError as error:
                raise _refused(error) from None
            if not subscriber.stale:
                return None
            subscriber.stale = False
            return await self._offer(subscriber)

    def _forward_publisher(
        self, subscriber: _Subscribed, publisher_id: str, sources: dict[str, tuple[str, Fanout]]
    ) -> None:
        for source, fanout in sources.values():
            track_id = f"{publisher_id}:{source}"
            forwarding = subscriber.peer.forward(fanout, track_id, publisher_id)
            subscriber.forwards[(publisher_id, source)] = (forwarding, source)

    async def _offer(self, subscriber: _Subscribed) -> Offer:
        if not subscriber.forwards and not subscriber.offered:
            return Offer(None, ())
        sdp = await subscriber.peer.offer()
        subscriber.offered = True
        tracks = []
        for (publisher_id, source), (forwarding, _) in subscriber.forwards.items():
            mid = subscriber.peer.mid_of(forwarding)
            if mid is not None:
                tracks.append(TrackInfo(mid, publisher_id, forwarding.fanout.kind, source))
        return Offer(sdp, tuple(tracks))

    async def _reoffer(self, room_id: str, peer_id: str, subscriber: _Subscribed) -> None:
        if subscriber.peer.awaiting_answer:
            subscriber.stale = True
            return
        offer = await self._offer(subscriber)
        if offer.sdp is not None:
            await self._notify(room_id, peer_id, "renegotiate", offer.as_dict())

    # -- leaving --------------------------------------------------------------------------

    async def leave(self, room_id: str, peer_id: str) -> None:
        """A participant left: its publication and its receiving leg end."""
        async with self._room(room_id) as room:
            await self._drop_publisher(room_id, room, peer_id)
            subscriber = room.subscribers.pop(peer_id, None)
            if subscriber is not None:
                await subscriber.peer.close()

    async def close_room(self, room_id: str) -> None:
        """The room ended: every peer connection of it closes."""
        async with self._room(room_id) as room:
            await _close_all(room)
            room.publishers.clear()
            room.subscribers.clear()

    async def close(self) -> None:
        """Close every room and wait for this engine's tasks."""
        for room_id in list(self._rooms):
            await self.close_room(room_id)
        await self._tasks.close()

    def _guard(self, more: int) -> None:
        """Refuse what would carry more forwarded streams than this process may."""
        if self._max_streams is not None and self.stats().forwarded + more > self._max_streams:
            raise RelayError(
                RelayErrorCode.RELAY_FULL,
                "The media relay carries all it can; try again later.",
            )

    # -- state ----------------------------------------------------------------------------

    def stats(self) -> RelayStats:
        """Rooms, peer connections and forwarded streams carried now."""
        peers = forwarded = keyframes = 0
        for room in self._rooms.values():
            peers += len(room.publishers) + len(room.subscribers)
            forwarded += sum(len(s.forwards) for s in room.subscribers.values())
            keyframes += sum(p.peer.keyframe_requests for p in room.publishers.values())
        return RelayStats(len(self._rooms), peers, forwarded, len(self._tasks), keyframes)

    def _on_state(self, room_id: str, peer_id: str, leg: str) -> Callable[[str], None]:
        def changed(state: str) -> None:
            if state == "failed":
                self._tasks.spawn(self._failed(room_id, peer_id, leg), f"relay-failed:{peer_id}")

        return changed

    async def _failed(self, room_id: str, peer_id: str, leg: str) -> None:
        """ICE or DTLS failed on a leg: end it and tell the client to build it again."""
        if leg == "publish":
            await self.unpublish(room_id, peer_id)
        else:
            async with self._room(room_id) as room:
                subscriber = room.subscribers.pop(peer_id, None)
                if subscriber is not None:
                    await subscriber.peer.close()
        data = {
            "leg": leg,
            "code": RelayErrorCode.MEDIA_FAILED.value,
            "detail": "Reconnect the media.",
        }
        await self._notify(room_id, peer_id, "relay-failed", data)

    @asynccontextmanager
    async def _room(self, room_id: str) -> AsyncIterator[_Room]:
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            room = self._rooms.setdefault(room_id, _Room())
            try:
                yield room
            finally:
                if not room.publishers and not room.subscribers:
                    self._rooms.pop(room_id, None)
                    if not lock._waiters:  # nobody else is about to use this room's lock
                        self._locks.pop(room_id, None)


def _sources(peer: MediaPeer) -> dict[str, tuple[str, Fanout]]:
    """Name what a publisher sends: its first video is the camera, a second one the screen."""
    names = {"video": ["camera", "screen"], "audio": ["microphone"]}
    limits = {"video": MAX_PUBLISHED_VIDEO, "audio": MAX_PUBLISHED_AUDIO}
    seen = {"video": 0, "audio": 0}
    sources: dict[str, tuple[str, Fanout]] = {}
    for incoming in peer.incoming:
        count = seen[incoming.kind]
        if count >= limits[incoming.kind]:
            raise RelayError(
                RelayErrorCode.TOO_MANY_TRACKS,
                "Publish at most a camera, a screen and a microphone.",
            )
        seen[incoming.kind] = count + 1
        sources[incoming.mid] = (names[incoming.kind][count], incoming.fanout)
    if not sources:
        raise RelayError(RelayErrorCode.NOTHING_PUBLISHED, "The offer sends no audio or video.")
    return sources


def _refused(error: Exception) -> RelayError:
    if isinstance(error, RelayError):
        return error
    return RelayError(RelayErrorCode.UNSUPPORTED_MEDIA, str(error) or "The offer cannot be used.")


async def _close_all(room: _Room) -> None:
    for published in room.publishers.values():
        await published.peer.close()
    for subscriber in room.subscribers.values():
        await subscriber.peer.close()
