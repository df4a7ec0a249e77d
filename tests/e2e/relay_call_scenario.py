"""A live consult through the whole stack: the real app on 127.0.0.1 with one relay worker
process, `/rtc` Socket.IO clients and aiortc peers; run by `tests/e2e/test_relay_call.py`
inside a network namespace with only `lo`.

The specialist subscribes before anyone publishes (no offer yet); the requesting doctor
publishes a card and a tone; the specialist is sent a `renegotiate` offer, answers it, and
decodes the doctor's media. The doctor leaves: the specialist gets a `renegotiate` offer
without its tracks and `peer-left`; the specialist leaves and `/metrics` shows the worker
carrying nothing.

Prints one JSON line of results; exits 0 when the scenario ran to its end.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from aiohttp.test_utils import TestClient, TestServer

from telehealth.app import create_app
from telehealth.config import RelaySettings, RoomSettings, Settings
from telehealth.db.base import utcnow
from tests.e2e.mesh_call_scenario import FAST_PASSWORDS
from tests.e2e.relay_engine_scenario import Subscriber, main_with_targets, publish, until
from tests.support import databases
from tests.support.consults import act, file_consult
from tests.support.netns import loopback_only_ice
from tests.support.network import Network, build_network
from tests.support.processes import free_port
from tests.support.rtc import NAMESPACE, RtcClient, connected

SCREEN: Final = (200, 50, 40)  # the shared screen's card: red
STEP: Final = 90.0  # one request; the first relay request waits for the worker to start
CONNECT: Final = 40.0
WATCHDOG: Final = 200.0


async def call_ok(client: RtcClient, event: str, data: Any) -> Any:
    answer = await client.sio.call(event, data, namespace=NAMESPACE, timeout=STEP)
    if not (isinstance(answer, dict) and answer.get("ok") is True):
        raise AssertionError(f"{event} answered {answer!r}")
    return answer["data"]


async def consult(net: Network, video: int, audio: int, result: dict[str, Any]) -> None:
    cid = (await file_consult(net))["id"]
    await act(net, "specialist", cid, "accept")
    start = (utcnow() + timedelta(minutes=30)).isoformat()
    room_id = (await (await act(net, "specialist", cid, "schedule", {"start": start})).json())[
        "room_id"
    ]
    doctor, _ = await connected(net, "doctor_a", room_id)
    specialist, _ = await connected(net, "specialist", room_id)
    await call_ok(doctor, "join", {})
    await call_ok(specialist, "join", {})
    result["first_subscribe"] = await call_ok(specialist, "subscribe", {})

    async def answer(peer: str, sdp: str) -> dict[str, Any] | None:
        await call_ok(specialist, "renegotiate", {"type": "answer", "sdp": sdp})
        return None

    viewer = Subscriber("specialist", answer)
    publisher = await publish(
        lambda sdp: _answer_sdp(call_ok(doctor, "publish", {"type": "offer", "sdp": sdp}))
    )
    offer = await specialist.next("renegotiate", STEP)
    result["offer_tracks"] = offer["tracks"]
    await viewer.take(offer)
    await until(
        lambda: viewer.frames("video") >= video and viewer.frames("audio") >= audio,
        CONNECT,
        "the specialist did not decode the doctor's media",
    )
    result["received"] = {"video": viewer.frames("video"), "audio": viewer.frames("audio")}
    result["video"] = viewer.sinks["video"].video_facts()
    result["audio"] = viewer.sinks["audio"].audio_facts()
    result["metrics_during"] = await relay_metrics(net)

    # The doctor shares a screen: a new publication with a second video track.
    await publisher.close()
    publisher = await publish(
        lambda sdp: _answer_sdp(call_ok(doctor, "publish", {"type": "offer", "sdp": sdp})),
        screen=SCREEN,
    )
    offer = await specialist.next("renegotiate", STEP)
    await viewer.take(offer)
    while len(offer["tracks"]) < 3:  # the removal of the first publication came first
        offer = await specialist.next("renegotiate", STEP)
        await viewer.take(offer)
    result["offer_tracks_with_screen"] = offer["tracks"]
    await until(
        lambda: sum(1 for v in viewer.videos[-2:] if v.frames >= video) == 2,
        CONNECT,
        "the specialist did not decode the camera and the screen",
    )
    result["screen_colours"] = sorted(v.video_facts()["mean_rgb"] for v in viewer.videos[-2:])

    await call_ok(doctor, "leave", {})
    emptied = await specialist.next("renegotiate", STEP)
    result["offer_tracks_after_leave"] = emptied["tracks"]
    result["peer_left"] = (await specialist.next("peer-left", STEP))["peer_id"]
    await viewer.take(emptied)
    await call_ok(specialist, "leave", {})
    result["metrics_after"] = await relay_metrics(net)
    await publisher.close()
    await viewer.close()
    await doctor.close()
    await specialist.close()


async def _answer_sdp(reply: Any) -> str:
    return str((await reply)["sdp"])


async def relay_metrics(net: Network) -> dict[str, float]:
    text = await (await net.client.get("/metrics")).text()
    pattern = r'^telehealth_relay_(\w+)\{worker="0"\} ([0-9.]+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.MULTILINE)}


async def scenario(video: int, audio: int, result: dict[str, Any]) -> None:
    loopback_only_ice()
    with tempfile.TemporaryDirectory(prefix="relay-call-") as tmp:
        directory = Path(tmp)
        path = await asyncio.to_thread(databases.sqlite_template, directory)
        data_dir = directory / "data"
        data_dir.mkdir()
        port = free_port()
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{path}",
            data_dir=data_dir,
            secret_key="test-secret-key-not-for-production",
            passwords=FAST_PASSWORDS,
            public_url=f"http://127.0.0.1:{port}",
            rooms=RoomSettings(media_addresses=("127.0.0.1",)),
            relay=RelaySettings(workers=1),
        )
        client = TestClient(TestServer(create_app(settings), host="127.0.0.1", port=port))
        await client.start_server()
        try:
            net = await build_network(client, settings)
            await consult(net, video, audio, result)
        finally:
            await client.close()


if __name__ == "__main__":
    sys.exit(main_with_targets(scenario, WATCHDOG))
