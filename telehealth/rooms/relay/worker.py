"""A relay worker process: one `RelayEngine` on its own event loop, driven by requests from
the web process over a duplex pipe. Every request gets one reply envelope (`ok`, `data`
or `error {code, detail}`); the engine's notices to participants go back as events.

Only relay workers import the aiortc adapter, so its hooks never touch the web process.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any, Final

from telehealth.rooms.relay.errors import RelayError, RelayErrorCode

__all__ = ["OPERATIONS", "run_worker"]

log = logging.getLogger("telehealth.relay.worker")

# The requests a worker understands, with the arguments each takes.
OPERATIONS: Final = {
    "publish": ("room_id", "peer_id", "sdp"),
    "unpublish": ("room_id", "peer_id"),
    "subscribe": ("room_id", "peer_id"),
    "answer": ("room_id", "peer_id", "sdp"),
    "leave": ("room_id", "peer_id"),
    "close_room": ("room_id",),
    "stats": (),
}


def run_worker(
    channel: Connection,
    media_addresses: tuple[str, ...],
    ice: list[dict[str, Any]],
    max_streams: int | None,
) -> None:
    """The worker's entry point (a spawned process)."""
    logging.basicConfig(level=logging.WARNING)
    # The node stops its workers by a `stop` request; Ctrl-C in a terminal is the node's.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve(channel, media_addresses, ice, max_streams))


async def _serve(
    channel: Connection,
    media_addresses: tuple[str, ...],
    ice: list[dict[str, Any]],
    max_streams: int | None,
) -> None:
    from telehealth.rooms.relay.aiortc_adapter import IceServerConfig
    from telehealth.rooms.relay.engine import RelayEngine

    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def readable() -> None:
        try:
            inbox.put_nowait(channel.recv())
        except (EOFError, OSError):
            inbox.put_nowait(None)  # the node went away
            loop.remove_reader(channel.fileno())

    async def notify(room_id: str, peer_id: str, event: str, data: dict[str, Any]) -> None:
        channel.send({"event": event, "room_id": room_id, "peer_id": peer_id, "data": data})

    servers = tuple(
        IceServerConfig(tuple(s["urls"]), s.get("username"), s.get("credential")) for s in ice
    )
    engine = RelayEngine(notify, servers, media_addresses, max_streams)
    loop.add_reader(channel.fileno(), readable)
    channel.send({"ready": True})
    try:
        while (message := await inbox.get()) is not None and message.get("op") != "stop":
            reply = await _handle(engine, message)
            # Every reply carries the worker's load: the node's capacity view and metrics.
            channel.send({**reply, "load": asdict(engine.stats())})
    finally:
        await engine.close()


async def _handle(engine: Any, message: dict[str, Any]) -> dict[str, Any]:
    request, op = message.get("id"), message.get("op")
    args = message.get("args", {})
    try:
        if op not in OPERATIONS or set(args) != set(OPERATIONS[op]):
            raise RelayError(RelayErrorCode.INVALID_REQUEST, f"Unknown relay request {op!r}.")
        data = await getattr(engine, op)(**args) if op != "stats" else engine.stats()
        return {"id": request, "ok": True, "data": _plain(data)}
    except RelayError as error:
        return {
            "id": request,
            "ok": False,
            "error": {"code": error.code.value, "detail": error.detail},
        }
    except Exception:
        log.exception("relay request failed", extra={"op": op})
        detail = "The relay could not do that."
        return {"id": request, "ok": False, "error": {"code": "internal_error", "detail": detail}}


def _plain(data: Any) -> Any:
    if data is None or isinstance(data, str):
        return data
    if hasattr(data, "as_dict"):
        return data.as_dict()
    return asdict(data)
