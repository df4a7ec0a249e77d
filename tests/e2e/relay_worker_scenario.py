"""A relay worker killed mid-call; run by `tests/e2e/test_relay_workers.py` inside a
network namespace with only `lo`.

This process plays the web process: it owns one relay worker (`RelayWorkers`), and real
aiortc clients publish and subscribe through it. Once media flows the worker is killed
with SIGKILL. This process must carry on, the room must be told (`relay-restart`), a new
worker must take over, and a republish and a new subscription must bring the media back.
Then the workers stop and no child process is left.

Prints one JSON line of results; exits 0 when the scenario ran to its end.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from typing import Any, Final

from telehealth.rooms.relay.pool import RelayWorkers
from tests.e2e.relay_engine_scenario import ROOM, Subscriber, main_with_targets, publish, until
from tests.support.netns import loopback_only_ice

CONNECT: Final = 60.0
RESTART: Final = 90.0
WATCHDOG: Final = 240.0


async def call(workers: RelayWorkers, video: int, audio: int, tag: str) -> tuple[Any, Subscriber]:
    """Publish, subscribe, and wait until the subscriber decodes both kinds."""
    publisher = await publish(lambda sdp: workers.publish(ROOM, f"publisher-{tag}", sdp))

    async def answer(peer: str, sdp: str) -> dict[str, Any] | None:
        return await workers.answer(ROOM, peer, sdp)

    viewer = Subscriber(f"viewer-{tag}", answer)
    await viewer.take(await workers.subscribe(ROOM, viewer.name))
    await until(
        lambda: viewer.frames("video") >= video and viewer.frames("audio") >= audio,
        CONNECT,
        f"no media through the relay worker ({tag})",
    )
    return publisher, viewer


async def scenario(video: int, audio: int, result: dict[str, Any]) -> None:
    loopback_only_ice()
    notices: list[tuple[str, str | None, str, dict[str, Any]]] = []

    async def notify(room: str, peer: str | None, event: str, data: dict[str, Any]) -> None:
        notices.append((room, peer, event, data))

    workers = RelayWorkers(1, notify, media_addresses=("127.0.0.1",))
    try:
        publisher, viewer = await call(workers, video, audio, "first")
        before = workers.pids[0]
        result["first"] = {"video": viewer.frames("video"), "audio": viewer.frames("audio")}
        killed = time.monotonic()
        assert before is not None
        os.kill(before, signal.SIGKILL)
        await until(lambda: any(n[2] == "relay-restart" for n in notices), RESTART, "not told")
        result["told_seconds"] = round(time.monotonic() - killed, 2)
        result["notices"] = [
            [room, peer, event, data.get("code")] for room, peer, event, data in notices
        ]
        await until(lambda: workers.pids.get(0) not in (None, before), RESTART, "no new worker")
        result["replaced"] = workers.pids[0] != before
        result["restarts"] = workers.restarts
        await publisher.close()
        await viewer.close()

        publisher, viewer = await call(workers, video, audio, "again")
        result["again"] = {"video": viewer.frames("video"), "audio": viewer.frames("audio")}
        result["restored_seconds"] = round(time.monotonic() - killed, 2)
        result["worker_stats"] = [vars(s) for s in await workers.stats()]
        await publisher.close()
        await viewer.close()
    finally:
        await workers.stop()
    result["children_left"] = len(multiprocessing.active_children())


if __name__ == "__main__":
    sys.exit(main_with_targets(scenario, WATCHDOG))
