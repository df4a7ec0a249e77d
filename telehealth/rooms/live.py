"""The live side of rooms on one node: who is connected here, joining and the waiting
room, admitting, relaying signals, chat, hands, reports, leaving and reconnecting.

It knows nothing of Socket.IO: it talks to connections through the `Emitter` protocol
(channels are Socket.IO rooms, so with a Redis manager an emit reaches every node). What
must hold across nodes lives in the database: who is present and admitted (`RoomPresence`),
the room's state (compare-and-set) and its log. Changes of one room on this node are
serialised by a per-room lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.config import Settings
from telehealth.db.base import utcnow
from telehealth.db.uow import UnitOfWork
from telehealth.errors import ErrorCode, Forbidden, NotFound, Unprocessable
from telehealth.rooms.models import Room, RoomEvent, RoomPresence, RoomState
from telehealth.rooms.parties import ADMITTED_ON_ARRIVAL, PeerRole
from telehealth.rooms.repository import RoomRepository
from telehealth.rooms.service import open_if_due
from telehealth.rooms.states import RoomTrigger, next_state
from telehealth.rooms.tokens import JoinClaims, JoinTokens, TokenError
from telehealth.scheduling.models import AppointmentStatus
from telehealth.teaching import floor

__all__ = ["Connection", "Emitter", "LiveRooms", "peer_channel", "room_channel"]

log = logging.getLogger("telehealth.rooms")

CHAT_HISTORY: Final = 50
# A peer on another node that was found admitted is trusted this long before it is
# looked up again (a departed peer's signals go nowhere for at most this long).
REMOTE_PEER_TTL: Final = 5.0


def connection_tag(sid: str) -> str:
    """Which connection an event came from, without the connection's id itself: tells a
    replaced tab's late drop from the person's own (attendance)."""
    return hashlib.sha256(sid.encode()).hexdigest()[:12]


def room_channel(room_id: str) -> str:
    """Everyone admitted to a room."""
    return f"room:{room_id}"


def peer_channel(room_id: str, peer_id: str) -> str:
    """One person of one room, whichever connection (and node) they are on."""
    return f"peer:{room_id}:{peer_id}"


def host_channel(room_id: str) -> str:
    """The hosts of a room (waiting-list updates)."""
    return f"hosts:{room_id}"


class Emitter(Protocol):
    """How the room service reaches connections (implemented by the signalling layer)."""

    async def emit(self, event: str, data: dict[str, Any], to: str, skip: str | None) -> None:
        """Send `event` to a channel or a connection, leaving out connection `skip`."""

    async def enter(self, connection: str, channel: str) -> None:
        """Add a connection of this node to a channel."""

    async def disconnect(self, connection: str) -> None:
        """Close a connection (on any node)."""


@dataclass
class Connection:
    """One client connection on this node, after its join token was accepted."""

    sid: str
    claims: JoinClaims
    name: str
    role: PeerRole
    joined: bool = False
    admitted: bool = False

    @property
    def room_id(self) -> str:
        """The room the token is for."""
        return self.claims.room_id

    @property
    def peer_id(self) -> str:
        """The person's stable id in the room."""
        return self.claims.peer_id

    def require_admitted(self) -> None:
        """Refuse until the connection has joined and been admitted."""
        if not self.joined:
            raise Unprocessable("Send join first.", code=ErrorCode.INVALID_TRANSITION)
        if not self.admitted:
            raise Forbidden("Wait until the host admits you.")


def _peer(row: RoomPresence) -> dict[str, Any]:
    return {"peer_id": row.peer_id, "user_id": row.user_id, "name": row.name, "role": row.role}


def _waiting(rows: list[RoomPresence]) -> list[dict[str, Any]]:
    return [{**_peer(r), "since": r.waiting_since.isoformat()} for r in rows if not r.admitted]


def _chat(event: RoomEvent) -> dict[str, Any]:
    return {
        "message_id": event.id,
        "peer_id": event.peer_id,
        "name": event.details.get("name", ""),
        "text": event.details.get("text", ""),
        "at": event.at.isoformat(),
    }


@dataclass
class _Joined:
    """What a join changed, to be told once the transaction has committed."""

    reply: dict[str, Any]
    old_connection: str | None
    reconnected: bool
    waiting: list[dict[str, Any]]
    state_changed: bool


class LiveRooms:
    """The live rooms of this node."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        emitter: Emitter,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._emitter = emitter
        self._clock = clock
        self._tokens = JoinTokens(settings.secret_key)
        self._node = settings.rooms.node_id
        self._locks: dict[str, asyncio.Lock] = {}
        self._here: dict[str, dict[str, Connection]] = {}
        self._remote: dict[tuple[str, str], float] = {}
        self._away: set[asyncio.Task[None]] = set()
        # Called with the room id when a room ends (the relay ends its media legs).
        self.on_ended: list[Callable[[str], Awaitable[None]]] = []

    # -- connecting ---------------------------------------------------------------------

    async def connect(self, sid: str, token: object) -> Connection:
        """Accept a connection whose token is genuine and whose user is still a party of
        a room that has not ended; raise otherwise."""
        claims = self._tokens.verify(token, self._clock())
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            repo = RoomRepository(uow.session)
            room = await repo.room(claims.room_id)
            user = await repo.active_user(claims.user_id)
            if room is None or user is None:
                raise TokenError("The join token is not valid any more.")
            parties = await repo.parties(room)
            if room.state == RoomState.ENDED.value or not parties.active:
                raise Unprocessable("This session has ended.", code=ErrorCode.ROOM_ENDED)
            role = parties.role_of(user.id)
            if role is None or role.value != claims.role:
                raise Forbidden("You are no longer a party of this room.")
            name = user.full_name
        return Connection(sid=sid, claims=claims, name=name, role=role)

    async def join(self, conn: Connection) -> dict[str, Any]:
        """Enter the room (or the waiting room); a second join after being admitted elsewhere
        refreshes the connection. Answers the peers, the waiting list and recent chat."""
        if conn.joined and conn.admitted:
            raise Unprocessable("Already joined.", code=ErrorCode.INVALID_TRANSITION)
        async with self._room_lock(conn.room_id):
            joined = await self._join(conn)
            conn.joined = True
            self._here.setdefault(conn.room_id, {})[conn.peer_id] = conn
            await self._announce_join(conn, joined)
        return joined.reply

    async def _join(self, conn: Connection) -> _Joined:
        now = self._clock()
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            room = await self._open_room(repo, conn, now)
            row = await repo.present(room.id, conn.peer_id)
            old = None if row is None or row.connection == conn.sid else row.connection
            first = row is None
            refreshing = conn.joined and row is not None and row.connection == conn.sid
            if row is None:
                row = await self._arrive(repo, conn, now)
                repo.add(row)
            else:
                row.connection, row.node = conn.sid, self._node
            reconnected = not first and not refreshing
            if not refreshing:
                kind = "reconnected" if reconnected else "joined"
                repo.log(
                    room.id,
                    kind,
                    conn.claims.user_id,
                    conn.peer_id,
                    role=conn.role.value,
                    connection=connection_tag(conn.sid),
                )
            await repo.set_emptied(room.id, None)
            await uow.flush()
            conn.admitted = row.admitted
            present = await repo.presence(room.id)
            state_changed = await self._maybe_live(repo, room, present, now)
            chat = await repo.recent_chat(room.id, CHAT_HISTORY) if conn.admitted else []
            await uow.commit()
        waiting = _waiting(present)
        reply = {
            "peer_id": conn.peer_id,
            "role": conn.role.value,
            "admitted": conn.admitted,
            "peers": [_peer(p) for p in present if p.admitted and p.peer_id != conn.peer_id]
            if conn.admitted
            else [],
            "waiting": waiting if conn.role is PeerRole.HOST else [],
            # The waiting patient sees that the doctor is there and knows they wait.
            "host_present": any(
                p.role == PeerRole.HOST.value for p in present if p.peer_id != conn.peer_id
            ),
            "chat": [_chat(c) for c in chat],
            "mode": room.mode,
            "state": room.state if not state_changed else RoomState.LIVE.value,
        }
        return _Joined(reply, old, reconnected, waiting, state_changed)

    async def _open_room(self, repo: RoomRepository, conn: Connection, now: datetime) -> Room:
        room = await repo.room(conn.room_id)
        if room is None:
            raise NotFound("No such room.")
        parties = await repo.parties(room)
        if parties.role_of(conn.claims.user_id) is None:
            raise Forbidden("You are no longer a party of this room.")
        state = await open_if_due(repo, room, parties, self._settings, now)
        room.state = state.value
        return room

    async def _arrive(self, repo: RoomRepository, conn: Connection, now: datetime) -> RoomPresence:
        # Someone admitted earlier who comes back later (a new tab, after the reconnect
        # window) does not wait again.
        admitted = conn.role in ADMITTED_ON_ARRIVAL or await self._was_admitted(repo, conn)
        return RoomPresence(
            room_id=conn.room_id,
            peer_id=conn.peer_id,
            user_id=conn.claims.user_id,
            name=conn.name,
            role=conn.role.value,
            node=self._node,
            connection=conn.sid,
            admitted=admitted,
            waiting_since=now,
            joined_at=now,
        )

    async def _was_admitted(self, repo: RoomRepository, conn: Connection) -> bool:
        return await repo.was_admitted(conn.room_id, conn.peer_id)

    async def _maybe_live(
        self, repo: RoomRepository, room: Room, present: list[RoomPresence], now: datetime
    ) -> bool:
        """An open room goes live once two parties are in it together."""
        if room.state != RoomState.OPEN.value or sum(p.admitted for p in present) < 2:
            return False
        target = next_state(RoomState.OPEN, RoomTrigger.GO_LIVE)
        assert target is not None
        if not await repo.move(room.id, RoomState.OPEN, target, live_at=now):
            return False
        repo.log(room.id, "live")
        parties = await repo.parties(room)
        if parties.appointment_id:
            appt = await repo.appointment(parties.appointment_id)
            waiting = {AppointmentStatus.BOOKED.value, AppointmentStatus.CHECKED_IN.value}
            if appt is not None and appt.status in waiting:
                appt.status = AppointmentStatus.IN_PROGRESS.value
        return True

    async def _announce_join(self, conn: Connection, joined: _Joined) -> None:
        emit, room = self._emitter, conn.room_id
        await emit.enter(conn.sid, peer_channel(room, conn.peer_id))
        if conn.role is PeerRole.HOST:
            await emit.enter(conn.sid, host_channel(room))
        if joined.old_connection:
            detail = "You joined this room from another window or device."
            error = {"code": ErrorCode.REPLACED.value, "detail": detail}
            await emit.emit("error", error, joined.old_connection, None)
            await emit.disconnect(joined.old_connection)
        if conn.role is PeerRole.HOST:
            await self._tell_waiting(room, joined.waiting, present=True)
        if conn.admitted:
            await emit.enter(conn.sid, room_channel(room))
            event = "peer-reconnected" if joined.reconnected else "peer-joined"
            peer = {
                "peer_id": conn.peer_id,
                "user_id": conn.claims.user_id,
                "name": conn.name,
                "role": conn.role.value,
            }
            await emit.emit(event, peer, room_channel(room), conn.sid)
        else:
            await emit.emit("waiting", {"waiting": joined.waiting}, host_channel(room), None)
        if joined.state_changed:
            await emit.emit("room-state", {"state": "live"}, room_channel(room), None)

    async def _tell_waiting(
        self, room_id: str, waiting: list[dict[str, Any]], present: bool
    ) -> None:
        for person in waiting:
            channel = peer_channel(room_id, person["peer_id"])
            await self._emitter.emit("host-present", {"present": present}, channel, None)

    # -- in the room ----------------------------------------------------------------------

    async def admit(self, conn: Connection, peer_id: str) -> None:
        """The host lets one waiting person in; they are told to join again."""
        conn.require_admitted()
        if conn.role is not PeerRole.HOST:
            raise Forbidden("Only the host admits people from the waiting room.")
        async with self._room_lock(conn.room_id), UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            row = await repo.present(conn.room_id, peer_id)
            if row is None:
                raise NotFound("Nobody with that peer id is waiting.")
            if row.admitted:
                return
            row.admitted = True
            repo.log(conn.room_id, "admitted", row.user_id, peer_id, by=conn.claims.user_id)
            await uow.flush()
            waiting = _waiting(await repo.presence(conn.room_id))
            await uow.commit()
        self._remote[(conn.room_id, peer_id)] = time.monotonic() + REMOTE_PEER_TTL
        await self._emitter.emit("admitted", {}, peer_channel(conn.room_id, peer_id), None)
        await self._emitter.emit("waiting", {"waiting": waiting}, host_channel(conn.room_id), None)

    async def signal(self, conn: Connection, to: str, kind: str, payload: Any) -> None:
        """Hand an offer, answer or candidate to one admitted peer of the same room."""
        conn.require_admitted()
        if to == conn.peer_id:
            raise Unprocessable("A peer cannot signal itself.", code=ErrorCode.VALIDATION_ERROR)
        if not await self._admitted_peer(conn.room_id, to):
            raise NotFound("No such peer in this room.")
        message = {"from": conn.peer_id, "type": kind, "payload": payload}
        await self._emitter.emit("signal", message, peer_channel(conn.room_id, to), None)

    async def _admitted_peer(self, room_id: str, peer_id: str) -> bool:
        local = self._here.get(room_id, {}).get(peer_id)
        if local is not None:
            return local.admitted
        key = (room_id, peer_id)
        if self._remote.get(key, 0.0) > time.monotonic():
            return True
        async with UnitOfWork(self._sessionmaker, read_only=True) as uow:
            row = await RoomRepository(uow.session).present(room_id, peer_id)
            # Read inside: leaving the unit of work rolls back, which expires the row.
            admitted = row is not None and row.admitted
        if not admitted:
            self._remote.pop(key, None)
            return False
        self._remote[key] = time.monotonic() + REMOTE_PEER_TTL
        return True

    async def chat(self, conn: Connection, text: str) -> dict[str, Any]:
        """Keep a chat message with the room, then send it to the others."""
        conn.require_admitted()
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            event = repo.log(
                conn.room_id, "chat", conn.claims.user_id, conn.peer_id, text=text, name=conn.name
            )
            await uow.flush()
            message = _chat(event)
            await uow.commit()
        await self._emitter.emit("chat", message, room_channel(conn.room_id), conn.sid)
        return {"message_id": message["message_id"], "at": message["at"]}

    async def hand(self, conn: Connection, raised: bool) -> None:
        """Raise or lower a hand."""
        conn.require_admitted()
        await self.record(conn, "hand", raised=raised)
        data = {"peer_id": conn.peer_id, "raised": raised}
        await self._emitter.emit("hand", data, room_channel(conn.room_id), conn.sid)

    # -- teaching rooms: the floor (rules in telehealth/teaching/floor.py) ---------------

    async def floor(self, conn: Connection, peer_id: str, give: bool) -> None:
        """The presenter gives or takes a trainee's floor; the whole room is told."""
        data = await floor.change_floor(self._sessionmaker, conn, peer_id, give)
        await self._emitter.emit("floor", data, room_channel(conn.room_id), None)

    async def may_publish(self, conn: Connection) -> bool:
        """Whether this connection may send media to the room now (the relay asks)."""
        return await floor.may_publish(self._sessionmaker, conn)

    async def record(self, conn: Connection, kind: str, **details: Any) -> None:
        """Append a client's report (media and ICE state, quality, audio-only) to the log."""
        if not conn.joined:
            raise Unprocessable("Send join first.", code=ErrorCode.INVALID_TRANSITION)
        async with UnitOfWork(self._sessionmaker) as uow:
            RoomRepository(uow.session).log(
                conn.room_id, kind, conn.claims.user_id, conn.peer_id, **details
            )
            await uow.commit()

    # -- leaving --------------------------------------------------------------------------

    async def leave(self, conn: Connection, reason: str = "left") -> None:
        """Leave the room for good (the others see the peer go)."""
        if not conn.joined:
            return
        conn.joined = False
        async with self._room_lock(conn.room_id):
            self._forget(conn)
            await self._depart(conn.room_id, conn.peer_id, conn.sid, conn.claims.user_id, reason)

    async def disconnected(self, conn: Connection) -> None:
        """The transport went away without `leave`: keep the place for the reconnect
        window, so that coming back is a reconnect, not a new person."""
        if not conn.joined:
            return
        conn.joined = False
        self._forget(conn)
        await self.record_detached(conn, "disconnected")
        task = asyncio.create_task(self._expire_away(conn), name=f"away:{conn.peer_id}")
        self._away.add(task)
        task.add_done_callback(self._away.discard)

    async def record_detached(self, conn: Connection, kind: str) -> None:
        """Log an event for a connection that is no longer joined."""
        async with UnitOfWork(self._sessionmaker) as uow:
            RoomRepository(uow.session).log(
                conn.room_id,
                kind,
                conn.claims.user_id,
                conn.peer_id,
                connection=connection_tag(conn.sid),
            )
            await uow.commit()

    async def _expire_away(self, conn: Connection) -> None:
        await asyncio.sleep(self._settings.rooms.reconnect_window.total_seconds())
        async with self._room_lock(conn.room_id):
            await self._depart(
                conn.room_id, conn.peer_id, conn.sid, conn.claims.user_id, "connection_lost"
            )

    async def _depart(
        self, room_id: str, peer_id: str, connection: str, user_id: str, reason: str
    ) -> None:
        """Remove the presence row if it is still this connection's, and tell the room."""
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            if not await repo.remove_presence(room_id, peer_id, connection):
                return  # it came back on another connection meanwhile
            repo.log(room_id, "left", user_id, peer_id, reason=reason)
            present = await repo.presence(room_id)
            if not present:
                await repo.set_emptied(room_id, self._clock())
            waiting = _waiting(present)
            hosts_left = not any(p.role == PeerRole.HOST.value for p in present)
            await uow.commit()
        self._remote.pop((room_id, peer_id), None)
        await self._emitter.emit("peer-left", {"peer_id": peer_id}, room_channel(room_id), None)
        await self._emitter.emit("waiting", {"waiting": waiting}, host_channel(room_id), None)
        if hosts_left:
            await self._tell_waiting(room_id, waiting, present=False)

    def _forget(self, conn: Connection) -> None:
        peers = self._here.get(conn.room_id, {})
        if peers.get(conn.peer_id) is conn:
            del peers[conn.peer_id]
        if not peers:
            self._here.pop(conn.room_id, None)

    # -- the room's end and the node's life ---------------------------------------------

    async def ended(self, room_id: str) -> None:
        """Tell everyone in a room that it has ended (the outcome was recorded, or it expired)."""
        await self._emitter.emit("room-state", {"state": "ended"}, room_channel(room_id), None)
        await self._emitter.emit("room-state", {"state": "ended"}, host_channel(room_id), None)
        for hook in self.on_ended:
            await hook(room_id)

    async def sweep(self, now: datetime | None = None) -> list[str]:
        """End rooms left empty past the grace period; returns their ids."""
        now = now or self._clock()
        grace = self._settings.rooms.grace
        ended: list[str] = []
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            for room in await repo.expired_rooms(now - grace, now - grace):
                state = RoomState(room.state)
                target = next_state(state, RoomTrigger.EXPIRE)
                if target and await repo.move(room.id, state, target, ended_at=now):
                    repo.log(room.id, "ended", reason="empty")
                    ended.append(room.id)
            await uow.commit()
        for room_id in ended:
            await self.ended(room_id)
        return ended

    async def start(self) -> None:
        """Forget what this node left in the database when it last stopped or crashed."""
        async with UnitOfWork(self._sessionmaker) as uow:
            repo = RoomRepository(uow.session)
            gone = await repo.clear_node(self._node)
            for room_id, peer_id in gone:
                repo.log(room_id, "left", None, peer_id, reason="node_restarted")
            await uow.commit()
        for room_id, peer_id in gone:
            await self._emitter.emit("peer-left", {"peer_id": peer_id}, room_channel(room_id), None)

    async def stop(self) -> None:
        """Cancel the reconnect-window timers (their rows are cleared at the next start)."""
        for task in list(self._away):
            task.cancel()
        await asyncio.gather(*self._away, return_exceptions=True)

    @asynccontextmanager
    async def _room_lock(self, room_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and room_id not in self._here:
                self._locks.pop(room_id, None)
