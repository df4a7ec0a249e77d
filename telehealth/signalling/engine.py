"""A leaner packet path through python-socketio and python-engineio for `/rtc`.

Profiling `bench/signalling.py` showed that a relayed `signal` cost the server about three
times the CPU of a bare WebSocket relay, and that most of the difference was the
libraries' per-packet machinery, not telehealth's handlers: a task per emit and recipient,
an `asyncio.wait_for` (a new task and a timer on Python 3.11) around every wait of a
socket's writer, and the stdlib `json`. The pieces here keep the libraries' protocol and
behaviour and cut that machinery:

- `FastJson`: orjson for Socket.IO packets, with the libraries' own `json` as the fallback
  for what orjson refuses (integers beyond 64 bits, lone surrogates, non-string keys).
- `DirectManager`: the in-memory manager, but an emit without a callback puts its packet
  on each recipient's queue in turn instead of a task per recipient (a put on engine.io's
  unbounded queue never waits, so nobody waits for anybody).
- `LeanSocket`: engine.io's socket, but its writer takes a waiting packet without
  waiting, and waits for the next one under `asyncio.timeout` (no task, same deadline).

python-socketio and python-engineio are untyped: their `Any` stays in this module.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import engineio
import orjson
import socketio
from aiohttp import web
from engineio import async_socket
from engineio import exceptions as eio_exceptions
from engineio import json as eio_json

__all__ = [
    "DirectManager",
    "FastJson",
    "LeanEngine",
    "LeanServer",
    "LeanSocket",
    "close_sockets",
]


class FastJson:
    """The `json` module python-socketio and engine.io are given: orjson, falling back to
    engine.io's own (its `loads` refuses integers of more than 100 digits)."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        """Compact JSON text (what the libraries ask for with `separators`)."""
        try:
            return orjson.dumps(obj).decode()
        except TypeError:
            return str(eio_json.dumps(obj, **kwargs))

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON text; what orjson cannot read goes to the stdlib's parser, which
        raises `ValueError` on malformed input just as before."""
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return eio_json.loads(text, **kwargs)


class DirectManager(socketio.AsyncManager):  # type: ignore[misc]
    """The one-node manager, without a task per recipient of an emit."""

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Encode once and queue the packet for every recipient, in order."""
        if callback is not None or namespace not in self.rooms:
            await super().emit(event, data, namespace, room, skip_sid, callback, to=to, **kwargs)
            return
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        pkt = self.server.packet_class(
            socketio.packet.EVENT, namespace=namespace, data=[event, *args]
        )
        encoded = pkt.encode()
        frames = [
            engineio.packet.Packet(engineio.packet.MESSAGE, p)
            for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        for sid, eio_sid in list(self.get_participants(namespace, to or room)):
            if sid not in skip:
                for frame in frames:
                    await self.server._send_eio_packet(eio_sid, frame)


class LeanSocket(async_socket.AsyncSocket):  # type: ignore[misc]
    """engine.io's socket with a writer that does not start a task per packet."""

    connected: bool
    upgraded: bool

    async def poll(self) -> list[Any]:
        """The packets waiting to be sent, after waiting for one if there are none;
        `QueueEmpty` when nothing came within the ping deadline."""
        queue: asyncio.Queue[Any] = self.queue
        try:
            if queue.empty():
                async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                    first = await queue.get()
            else:
                first = queue.get_nowait()
            queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            raise eio_exceptions.QueueEmpty() from None
        if first is None:
            return []
        packets = [first]
        while not queue.empty():
            pkt = queue.get_nowait()
            queue.task_done()
            if pkt is None:
                queue.put_nowait(None)  # the end stays for the next poll
                break
            packets.append(pkt)
        return packets

    async def _websocket_handler(self, ws: Any) -> None:
        """Serve a connection that opened on the WebSocket: read packets in this task, each
        handled before the next is read, while a writer task sends what is queued. An
        upgrade from long-polling keeps engine.io's own handler (its probe handshake)."""
        if self.connected:
            await super()._websocket_handler(ws)
            return
        self.connected = True
        self.upgraded = True
        writer = asyncio.create_task(self._write(ws), name=f"eio-writer:{self.sid}")
        try:
            while (data := await self._read(ws)) is not None:
                if not await self._take(data):
                    break
        finally:
            await self.queue.put(None)  # the writer sends what is queued, then ends
            await writer
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def _read(self, ws: Any) -> str | bytes | None:
        """The next message, or None once the client is gone: closed, silent past the
        ping deadline, too large, or this task cancelled."""
        try:
            async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                data: str | bytes | None = await ws.wait()
        except (Exception, asyncio.CancelledError):
            return None
        if data and len(data) > self.server.max_http_buffer_size:
            return None
        return data

    async def _take(self, data: str | bytes) -> bool:
        """Hand one packet to engine.io; False when the socket has closed."""
        try:
            await self.receive(engineio.packet.Packet(encoded_packet=data))
        except eio_exceptions.UnknownPacketError:
            pass
        except eio_exceptions.SocketIsClosedError:
            return False
        except Exception:
            self.server.logger.exception("Unknown receive error")
        return True

    async def _write(self, ws: Any) -> None:
        """Send queued packets until the end marker, a silent queue or a send failure."""
        send = _sender(ws)
        # engine.io's writer ends on any of these too; the reader notices the closed socket.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            while packets := await self.poll():
                for pkt in packets:
                    await send(pkt.encode())
        await ws.close()


def _sender(ws: Any) -> Any:
    """aiohttp's own send of the socket engine.io wraps (its wrapper looks the coroutine
    up and inspects it on every packet)."""
    sock = getattr(ws, "_sock", None)
    if not isinstance(sock, web.WebSocketResponse):
        return ws.send

    async def send(message: str | bytes) -> None:
        if isinstance(message, bytes):
            await sock.send_bytes(message)
        else:
            await sock.send_str(message)

    return send


class LeanEngine(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io's server whose sockets are `LeanSocket`s."""

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect":
            sock = self.sockets.get(args[0])
            if type(sock) is async_socket.AsyncSocket:
                # Made by engine.io a moment ago; only methods differ, no state.
                sock.__class__ = LeanSocket
        return await super()._trigger_event(event, *args, **kwargs)


class LeanServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server over `LeanEngine`."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return LeanEngine


async def close_sockets(engine: engineio.AsyncServer) -> int:
    """Close every engine.io socket of this node at once: each one's disconnect handler
    runs, the client is sent engine.io's CLOSE, and a WebSocket's writer then closes the
    WebSocket, which ends its handler. Returns how many there were.

    engine.io's own `shutdown` only stops its background task: without this, every open
    WebSocket keeps its aiohttp handler, and so the server, alive until aiohttp's shutdown
    timeout cancels it."""
    sockets = list(engine.sockets.values())
    await asyncio.gather(*(_close_socket(s) for s in sockets), return_exceptions=True)
    return len(sockets)


async def _close_socket(sock: Any) -> None:
    await sock.close(wait=False, abort=False)
    if sock.upgraded:
        await sock.queue.put(None)  # after the CLOSE packet: the writer ends, closing the socket
