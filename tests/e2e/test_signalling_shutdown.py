"""A `serve` process with open `/rtc` connections stops promptly on SIGINT: the shutdown
closes every connection itself (each one's disconnect handler runs and is logged with the
room) instead of waiting for aiohttp's shutdown timeout (60 s) to cut the WebSockets."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from tests.e2e.test_outcome_crash import in_the_call, room_log
from tests.support.processes import crash_stage
from tests.support.rtc import DEMO_DOCTOR, RtcClient, book_demo_visit

IDLE = 40
# Well under aiohttp's 60 s shutdown timeout, which is what held the server before; the
# stop itself took about a second here with 42 connections.
STOP_BOUND = 15.0


async def test_sigint_closes_every_connection_and_stops_within_the_bound(
    backend: str, tmp_path: Path
) -> None:
    async with asyncio.timeout(300), crash_stage(backend, tmp_path) as stage:
        api = stage.api
        async with stage.serve() as node:
            appt = await book_demo_visit(api)
            room_id = appt["room_id"]
            doctor, patient = await in_the_call(api, node.base_url, room_id)
            grant = await api.call("POST", f"/api/v1/rooms/{room_id}/join", DEMO_DOCTOR)
            idle = [RtcClient() for _ in range(IDLE)]
            await asyncio.gather(*(c.connect(node.base_url, grant["token"]) for c in idle))
            clients = [doctor, patient, *idle]
            assert all(c.sio.connected for c in clients)

            started = time.monotonic()
            node.process.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(node.process.wait(), STOP_BOUND * 2)
            took = time.monotonic() - started
            assert code == 0, node.log
            assert took < STOP_BOUND, f"stopped after {took:.1f} s"
            assert f'"connections": {IDLE + 2}' in node.log, node.log
            for client in clients:
                await client.close()

        async with stage.serve():
            log = await room_log(api, room_id)
            gone = sorted(e["peer_id"] for e in log if e["kind"] == "disconnected")
            joined = sorted(e["peer_id"] for e in log if e["kind"] == "joined")
            assert gone == sorted(set(joined)), log
