"""The node's relay workers, as the web process sees them: processes it starts and stops,
rooms assigned to them, requests and replies over a duplex pipe with the ack-envelope
discipline (every request gets one reply or a `relay_unavailable` error).

A worker that dies does not take the web process with it: its pending requests fail with
`relay_unavailable`, every participant of its rooms is told (`relay-restart`) to publish
and subscribe again, and a new worker takes its place. Workers start with the first relay
room that needs one (a node that carries no relay room runs none) and stop with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final

from telehealth.rooms.relay.errors import RelayError, RelayErrorCode
from telehealth.rooms.relay.tasks import OwnedTasks
from telehealth.rooms.relay.worker import run_worker

__all__ = ["RelayNotify", "RelayWorkers", "WorkerStats"]

log = logging.getLogger("telehealth.relay")

# (room, peer or None for everyone in the room, event, data)
RelayNotify = Callable[[str, str | None, str, dict[str, Any]], Awaitable[None]]

START_SECONDS: Final = 60.0  # a spawned worker imports aiortc and PyAV first
REQUEST_SECONDS: Final = 30.0  # an answer gathers candidates: seconds on a busy machine
STOP_SECONDS: Final = 5.0


@dataclass(frozen=True)
class WorkerStats:
    """What one worker carries."""

    worker: int
    pid: int | None
    rooms: int
    peers: int
    forwarded: int


@dataclass(eq=False)
class _Worker:
    index: int
    process: BaseProcess
    channel: Connection
    ready: asyncio.Future[None]
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    rooms: set[str] = field(default_factory=set)
    alive: bool = True
    load: dict[str, int] = field(default_factory=dict)  # as of its last reply


class RelayWorkers:
    """The relay worker processes of this node."""

    def __init__(
        self,
        count: int,
        notify: RelayNotify,
        media_addresses: tuple[str, ...] = (),
        ice: tuple[dict[str, Any], ...] = (),
        max_streams: int | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("at least one relay worker")
        self._count = count
        self._notify = notify
        self._addresses = media_addresses
        self._ice = list(ice)
        self._max_streams = max_streams
        self._workers: dict[int, _Worker] = {}
        self._rooms: dict[str, _Worker] = {}
        self._ids = itertools.count(1)
        self._tasks = OwnedTasks()
        self._starting: asyncio.Lock = asyncio.Lock()
        self._stopping = False
        self.restarts = 0

    # -- requests -------------------------------------------------------------------------

    async def publish(self, room_id: str, peer_id: str, sdp: str) -> str:
        """A participant's offer of its tracks -> the relay's answer (SDP)."""
        answer = await self._request(room_id, "publish", room_id=room_id, peer_id=peer_id, sdp=sdp)
        return str(answer)

    async def unpublish(self, room_id: str, peer_id: str) -> None:
        """Stop forwarding a participant's tracks."""
        await self._request(room_id, "unpublish", room_id=room_id, peer_id=peer_id, assign=False)

    async def subscribe(self, room_id: str, peer_id: str) -> dict[str, Any]:
        """A new receiving leg: `{sdp, type, tracks}` (sdp None while nobody publishes)."""
        offer = await self._request(room_id, "subscribe", room_id=room_id, peer_id=peer_id)
        return dict(offer)

    async def answer(self, room_id: str, peer_id: str, sdp: str) -> dict[str, Any] | None:
        """A subscriber's answer; returns the next offer if the room changed meanwhile."""
        data = await self._request(
            room_id, "answer", room_id=room_id, peer_id=peer_id, sdp=sdp, assign=False
        )
        return None if data is None else dict(data)

    async def leave(self, room_id: str, peer_id: str) -> None:
        """A participant left the room: its legs end."""
        await self._request(room_id, "leave", room_id=room_id, peer_id=peer_id, assign=False)

    async def close_room(self, room_id: str) -> None:
        """The room ended: its peers end and its worker forgets it."""
        await self._request(room_id, "close_room", room_id=room_id, assign=False)
        worker = self._rooms.pop(room_id, None)
        if worker is not None:
            worker.rooms.discard(room_id)

    async def stats(self) -> list[WorkerStats]:
        """Rooms, peers and forwarded streams per running worker."""
        out = []
        for worker in list(self._workers.values()):
            if not worker.alive or not worker.ready.done():
                continue
            data = await self._send(worker, "stats", {})
            pid = worker.process.pid
            out.append(
                WorkerStats(worker.index, pid, data["rooms"], data["peers"], data["forwarded"])
            )
        return out

    def snapshot(self) -> list[WorkerStats]:
        """Each running worker's load as of its last reply (for metrics, without waiting)."""
        return [
            WorkerStats(
                w.index,
                w.process.pid,
                w.load.get("rooms", 0),
                w.load.get("peers", 0),
                w.load.get("forwarded", 0),
            )
            for w in self._workers.values()
            if w.alive
        ]

    @property
    def pids(self) -> dict[int, int | None]:
        """The process id of each running worker (tests kill one)."""
        return {i: w.process.pid for i, w in self._workers.items() if w.alive}

    async def _request(self, room: str, op: str, /, *, assign: bool = True, **args: Any) -> Any:
        worker = self._rooms.get(room)
        if worker is None or not worker.alive:
            if not assign:
                return None  # nothing of this room is relayed (any more)
            worker = await self._assign(room)
        return await self._send(worker, op, args)

    async def _send(self, worker: _Worker, op: str, args: dict[str, Any]) -> Any:
        request = next(self._ids)
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        worker.pending[request] = reply
        try:
            worker.channel.send({"id": request, "op": op, "args": args})
            message = await asyncio.wait_for(reply, REQUEST_SECONDS)
        except (OSError, TimeoutError):
            raise _unavailable() from None
        finally:
            worker.pending.pop(request, None)
        if not message["ok"]:
            error = message["error"]
            codes = {c.value: c for c in RelayErrorCode}
            raise RelayError(codes.get(error["code"], RelayErrorCode.INTERNAL), error["detail"])
        return message["data"]

    async def _assign(self, room_id: str) -> _Worker:
        async with self._starting:
            if self._stopping:
                raise _unavailable()
            missing = [
                i
                for i in range(self._count)
                if i not in self._workers or not self._workers[i].alive
            ]
            await asyncio.gather(*(self._start(i) for i in missing))
            worker = min(
                self._workers.values(), key=lambda w: (w.load.get("forwarded", 0), len(w.rooms))
            )
            worker.rooms.add(room_id)
            self._rooms[room_id] = worker
            return worker

    # -- the processes --------------------------------------------------------------------

    async def _start(self, index: int) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=run_worker,
            args=(theirs, self._addresses, self._ice, self._max_streams),
            name=f"relay-worker-{index}",
            daemon=True,
        )
        process.start()
        theirs.close()
        loop = asyncio.get_running_loop()
        worker = _Worker(index, process, ours, loop.create_future())
        self._workers[index] = worker
        loop.add_reader(ours.fileno(), self._readable, worker)
        try:
            await asyncio.wait_for(asyncio.shield(worker.ready), START_SECONDS)
        except TimeoutError:
            self._died(worker)
            raise _unavailable() from None
        log.info("relay worker %s started", index, extra={"pid": process.pid})

    def _readable(self, worker: _Worker) -> None:
        try:
            message = worker.channel.recv()
        except (EOFError, OSError):
            self._died(worker)
            return
        if "id" in message:
            worker.load = message.get("load", worker.load)
            reply = worker.pending.get(message["id"])
            if reply is not None and not reply.done():
                reply.set_result(message)
        elif "event" in message:
            notice = self._notify(
                message["room_id"], message["peer_id"], message["event"], message["data"]
            )
            self._tasks.spawn(notice, f"relay-notify:{message['event']}")
        elif message.get("ready") and not worker.ready.done():
            worker.ready.set_result(None)

    def _died(self, worker: _Worker) -> None:
        """The worker's end of the pipe closed: it exited or was killed."""
        if not worker.alive:
            return
        worker.alive = False
        asyncio.get_running_loop().remove_reader(worker.channel.fileno())
        worker.channel.close()
        for reply in worker.pending.values():
            if not reply.done():
                reply.set_exception(_unavailable())
        if not worker.ready.done():
            worker.ready.set_exception(_unavailable())
            worker.ready.exception()  # retrieved: nobody else may be waiting for it
        rooms = sorted(worker.rooms)
        for room_id in rooms:
            self._rooms.pop(room_id, None)
        if self._stopping:
            return
        log.error("relay worker %s died", worker.index, extra={"rooms": len(rooms)})
        self.restarts += 1
        self._tasks.spawn(self._replace(worker, rooms), f"relay-restart:{worker.index}")

    async def _replace(self, worker: _Worker, rooms: list[str]) -> None:
        # Told first: a client that publishes again meanwhile waits for the new worker.
        detail = "The media relay restarted: publish and subscribe again."
        data = {"code": RelayErrorCode.RELAY_UNAVAILABLE.value, "detail": detail}
        for room_id in rooms:
            await self._notify(room_id, None, "relay-restart", data)
        await asyncio.to_thread(worker.process.join, STOP_SECONDS)
        async with self._starting:
            if not self._stopping and not self._workers[worker.index].alive:
                await self._start(worker.index)

    async def stop(self) -> None:
        """Stop every worker (their peers close) and wait for this pool's tasks."""
        self._stopping = True
        for worker in list(self._workers.values()):
            if worker.alive:
                with contextlib.suppress(OSError):
                    worker.channel.send({"op": "stop"})
        for worker in list(self._workers.values()):
            await asyncio.to_thread(worker.process.join, STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                await asyncio.to_thread(worker.process.join, STOP_SECONDS)
            self._died(worker)
        await self._tasks.close()


def _unavailable() -> RelayError:
    return RelayError(RelayErrorCode.RELAY_UNAVAILABLE, "The media relay is restarting; try again.")
