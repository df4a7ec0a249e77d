"""The `/rtc` Socket.IO namespace on the same aiohttp app: connect by join token, then thin
handlers that rate-limit, validate, call the live-room service and always answer with the
ack envelope. python-socketio is untyped: its `Any` stays in this module.

Each connection's events are handled one after another in the order they arrived (both
engine.io and Socket.IO run with `async_handlers=False`, so a connection's reader awaits
each handler before reading the next packet): an offer can never be overtaken by its own
candidates, and a client that floods only fills its own socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import socketio
from aiohttp import web
from aiohttp.typedefs import Middleware

from telehealth import keys
from telehealth.errors import DomainError, ErrorCode
from telehealth.rooms.live import Connection, LiveRooms
from telehealth.rooms.relay.service import RelayRooms, register_metrics
from telehealth.rooms.service import NAMESPACE, SOCKETIO_PATH
from telehealth.signalling import schemas as sch
from telehealth.signalling.engine import DirectManager, FastJson, LeanServer, close_sockets
from telehealth.signalling.envelope import Envelope, answer, failure
from telehealth.signalling.limits import ConnectionLimits
from telehealth.signalling.relay import RelayEvents

__all__ = ["ENGINE_PREFIX", "SignallingServer", "outside_http_edge", "signalling_ctx"]

log = logging.getLogger("telehealth.signalling")

ENGINE_PREFIX: Final = SOCKETIO_PATH + "/"
# Larger than the largest valid event (an SDP of 64 KiB): anything bigger closes the socket.
MAX_PACKET_BYTES: Final = 128 * 1024
PING_INTERVAL: Final = 15
PING_TIMEOUT: Final = 15
# At shutdown: how long the disconnect handlers of every connection may take together.
CLOSE_SECONDS: Final = 10.0

Handler = Callable[[Connection, Any], Awaitable[Any]]


def outside_http_edge(middleware: Middleware) -> Middleware:
    """Let Socket.IO's own requests (authenticated by the join token alone) pass a
    middleware of the HTTP edge untouched: no cookie-session lookup, CSRF check or
    per-request metrics on every long-poll."""

    @web.middleware
    async def skip_for_signalling(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(ENGINE_PREFIX):
            return await handler(request)
        return await middleware(request, handler)

    return skip_for_signalling


class SocketEmitter:
    """The live-room service's `Emitter` over python-socketio (channels are its rooms)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def emit(self, event: str, data: dict[str, Any], to: str, skip: str | None) -> None:
        """Send to a channel or one connection, on whichever node it is."""
        await self._sio.emit(event, data, to=to, skip_sid=skip, namespace=NAMESPACE)

    async def enter(self, connection: str, channel: str) -> None:
        """Add a connection of this node to a channel."""
        await self._sio.enter_room(connection, channel, namespace=NAMESPACE)

    async def disconnect(self, connection: str) -> None:
        """Close a connection, on whichever node it is."""
        await self._sio.disconnect(connection, namespace=NAMESPACE)


class RtcNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """`/rtc`: one dispatcher for every event, so unknown events are answered too."""

    def __init__(self, rooms: Callable[[], LiveRooms], relay: RelayEvents) -> None:
        super().__init__(NAMESPACE)
        self._rooms = rooms
        self._relay = relay
        self._connections: dict[str, Connection] = {}
        self._limits: dict[str, ConnectionLimits] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._events: dict[str, Handler] = {
            "join": self._join,
            "signal": self._signal,
            "chat": self._chat,
            "hand": self._hand,
            "admit": self._admit,
            "report": self._report,
            "leave": self._leave,
            "floor": self._floor,
            **relay.handlers(),
        }

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Route an event: connect and disconnect, or a client event answered by an ack."""
        if event == "connect":
            await self._connect(args[0], args[2] if len(args) > 2 else None)
            return True
        if event == "disconnect":
            await self._disconnect(args[0])
            return None
        return await self._dispatch(event, args[0], args[1:])

    async def _connect(self, sid: str, auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            connection = await self._rooms().connect(sid, token)
        except DomainError as error:
            refusal = {"code": error.code.value, "detail": error.detail}
            raise socketio.exceptions.ConnectionRefusedError(error.code.value, refusal) from None
        except Exception:
            log.exception("connect failed", extra={"sid": sid})
            refusal = {"code": ErrorCode.INTERNAL.value, "detail": "Please try again."}
            raise socketio.exceptions.ConnectionRefusedError(
                ErrorCode.INTERNAL.value, refusal
            ) from None
        self._connections[sid] = connection
        self._limits[sid] = ConnectionLimits()

    async def _disconnect(self, sid: str) -> None:
        self._limits.pop(sid, None)
        connection = self._connections.pop(sid, None)
        if connection is not None:
            try:
                await self._rooms().disconnected(connection)
                await self._relay.gone(connection)
            except Exception:
                log.exception("could not record a disconnect", extra={"sid": sid})

    async def _dispatch(self, event: str, sid: str, args: tuple[Any, ...]) -> Envelope:
        connection = self._connections.get(sid)
        limits = self._limits.get(sid)
        if connection is None or limits is None:
            return failure(ErrorCode.UNAUTHENTICATED, "Connect with a join token first.")
        if not limits.allow(event):
            if limits.flooding:
                self._close_later(sid)
            return failure(ErrorCode.RATE_LIMITED, "Too many events; slow down.")
        handler = self._events.get(event)
        if handler is None:
            return failure(ErrorCode.VALIDATION_ERROR, "Unknown event.")
        if len(args) > 1:
            return failure(ErrorCode.VALIDATION_ERROR, "Send one payload object.")
        return await answer(handler(connection, args[0] if args else None), event)

    def _close_later(self, sid: str) -> None:
        # After this ack has gone out: a disconnect now would swallow it.
        async def close() -> None:
            await asyncio.sleep(0)
            await self.disconnect(sid, namespace=NAMESPACE)

        task = asyncio.create_task(close(), name=f"rtc-flood:{sid}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _join(self, connection: Connection, data: Any) -> Any:
        sch.parse(sch.Empty, data)
        return await self._rooms().join(connection)

    async def _signal(self, connection: Connection, data: Any) -> Any:
        signal = sch.parse(sch.Signal, data)
        payload = signal.payload.model_dump(exclude_none=True) if signal.payload else None
        await self._rooms().signal(connection, signal.to, signal.type, payload)

    async def _chat(self, connection: Connection, data: Any) -> Any:
        return await self._rooms().chat(connection, sch.parse(sch.Chat, data).text)

    async def _hand(self, connection: Connection, data: Any) -> Any:
        await self._rooms().hand(connection, sch.parse(sch.Hand, data).raised)

    async def _admit(self, connection: Connection, data: Any) -> Any:
        await self._rooms().admit(connection, sch.parse(sch.Admit, data).peer_id)

    async def _report(self, connection: Connection, data: Any) -> Any:
        report = sch.parse(sch.Report, data)
        await self._rooms().record(connection, report.kind, **report.details())

    async def _leave(self, connection: Connection, data: Any) -> Any:
        sch.parse(sch.Empty, data)
        await self._rooms().leave(connection)
        await self._relay.gone(connection)

    async def _floor(self, connection: Connection, data: Any) -> Any:
        floor = sch.parse(sch.Floor, data)
        await self._rooms().floor(connection, floor.peer_id, floor.give)
        if not floor.give:
            await self._relay.withdrawn(connection, floor.peer_id)

    async def close(self) -> None:
        """Wait for pending flood disconnects."""
        await asyncio.gather(*self._closing, return_exceptions=True)


class SignallingServer:
    """python-socketio on the app: the in-memory manager on one node, Redis across nodes."""

    def __init__(
        self, redis_url: str | None, allowed_origin: str, redis_channel: str = "socketio"
    ) -> None:
        manager = (
            socketio.AsyncRedisManager(redis_url, channel=redis_channel)
            if redis_url
            else DirectManager()
        )
        self.sio = LeanServer(
            async_mode="aiohttp",
            client_manager=manager,
            json=FastJson,
            async_handlers=False,
            cors_allowed_origins=[allowed_origin],
            max_http_buffer_size=MAX_PACKET_BYTES,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            logger=False,
            engineio_logger=False,
        )
        # engine.io has its own switch: one task per packet would undo the ordering.
        self.sio.eio.async_handlers = False
        self.emitter = SocketEmitter(self.sio)
        self._rooms: LiveRooms | None = None
        self._relay: RelayRooms | None = None
        self.namespace = RtcNamespace(self._live, RelayEvents(self._relay_rooms))
        self.sio.register_namespace(self.namespace)

    def _live(self) -> LiveRooms:
        if self._rooms is None:
            raise DomainError("Live rooms are starting.", code=ErrorCode.UNAVAILABLE)
        return self._rooms

    def _relay_rooms(self) -> RelayRooms:
        if self._relay is None:
            raise DomainError("Live rooms are starting.", code=ErrorCode.UNAVAILABLE)
        return self._relay

    def attach(self, app: web.Application) -> None:
        """Serve engine.io under /socket.io/ on the app, and close its connections when the
        app shuts down."""
        self.sio.attach(app, socketio_path=SOCKETIO_PATH.strip("/"))
        app.on_shutdown.append(self._close_connections)

    async def _close_connections(self, app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for open handlers (and before the cleanup
        # contexts close the database the disconnect handlers write to).
        started = time.monotonic()
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                closed = await close_sockets(self.sio.eio)
        except TimeoutError:
            log.warning("closing connections took too long", extra={"seconds": CLOSE_SECONDS})
            return
        seconds = round(time.monotonic() - started, 3)
        log.info("connections closed", extra={"connections": closed, "seconds": seconds})

    def serve(self, rooms: LiveRooms, relay: RelayRooms) -> None:
        """Start handing events to the live-room service and the relay."""
        self._rooms = rooms
        self._relay = relay

    async def shutdown(self) -> None:
        """Close every connection of this node."""
        await self.namespace.close()
        await self.sio.shutdown()


async def signalling_ctx(app: web.Application) -> AsyncIterator[None]:
    """The live-room service of this node, its start-up clean-up and its sweeper."""
    settings = app[keys.SETTINGS]
    server = app[keys.SIGNALLING]
    rooms = LiveRooms(app[keys.SESSIONMAKER], settings, server.emitter)
    await rooms.start()
    app[keys.LIVE_ROOMS] = rooms
    relay = RelayRooms(app[keys.SESSIONMAKER], settings, server.emitter, rooms.may_publish)
    rooms.on_ended.append(relay.ended)
    register_metrics(app[keys.METRICS_REGISTRY], relay)
    server.serve(rooms, relay)
    sweeper = asyncio.create_task(_sweep(rooms, settings.rooms.sweep_seconds), name="room-sweep")
    yield
    sweeper.cancel()
    await asyncio.gather(sweeper, return_exceptions=True)
    await server.shutdown()
    await relay.stop()
    await rooms.stop()


async def _sweep(rooms: LiveRooms, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await rooms.sweep()
        except Exception:
            log.exception("room sweep failed")
