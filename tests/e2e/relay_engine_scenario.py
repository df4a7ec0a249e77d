"""One publisher and eight subscribers through the relay engine, with real aiortc peers on
loopback; run by `tests/e2e/test_relay_engine.py` inside a network namespace with only `lo`.

The publisher sends a coloured card and a tone. Seven subscribers take the relay's offer at
once; once they all decode, an eighth joins mid-stream and we time its first decoded video
frame (it needs a keyframe: the relay asks the publisher for one). Then the publisher
leaves: the subscribers get a new offer without its tracks, and once everyone has left the
engine holds no peer connection and no task.

Prints one JSON line of results; exits 0 when the scenario ran to its end (the test judges
the numbers), 1 with the error otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from telehealth.rooms.relay.aiortc_adapter import MediaPeer
from telehealth.rooms.relay.engine import RelayEngine
from telehealth.rooms.relay.errors import RelayError
from tests.e2e.mesh_call_scenario import ColourCard, Sink, Tone, watchdog

ROOM: Final = "room-1"
COLOUR: Final = (30, 60, 200)
TONE: Final = 440.0
SUBSCRIBERS: Final = 8
CONNECT: Final = 40.0
LATE_FIRST_FRAME: Final = 20.0  # the scenario gives up on the late subscriber after this
WATCHDOG: Final = 150.0


# (peer, answer SDP) -> the relay's next offer, if the room changed meanwhile.
Answer = Callable[[str, str], Awaitable[dict[str, Any] | None]]


def engine_answer(engine: RelayEngine) -> Answer:
    """Answers straight to an engine of this process."""

    async def answer(peer: str, sdp: str) -> dict[str, Any] | None:
        again = await engine.answer(ROOM, peer, sdp)
        return again.as_dict() if again is not None else None

    return answer


class Subscriber:
    """An aiortc client that answers the relay's offers and decodes what it is sent."""

    def __init__(self, name: str, answer: Answer) -> None:
        self.name = name
        self.answer = answer
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sinks: dict[str, Sink] = {}
        self.videos: list[Sink] = []  # every video track received, in order
        self.drains: list[asyncio.Task[None]] = []
        self.offers: list[dict[str, Any]] = []
        self.pc.on("track", self._track)

    def _track(self, track: Any) -> None:
        sink = Sink(track.kind)
        self.sinks[track.kind] = sink
        if track.kind == "video":
            self.videos.append(sink)
        self.drains.append(asyncio.create_task(sink.drain(track)))

    async def take(self, offer: dict[str, Any]) -> None:
        """Answer an offer of the relay (and any offer the answer brings back)."""
        while offer.get("sdp"):
            self.offers.append(offer)
            await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            offer = await self.answer(self.name, self.pc.localDescription.sdp) or {}

    def frames(self, kind: str) -> int:
        sink = self.sinks.get(kind)
        return sink.frames if sink else 0

    async def close(self) -> None:
        await self.pc.close()
        for task in self.drains:
            task.cancel()
        await asyncio.gather(*self.drains, return_exceptions=True)


async def publish(
    send: Callable[[str], Awaitable[str]], screen: tuple[int, int, int] | None = None
) -> RTCPeerConnection:
    """A publisher's client: the card and the tone (and a second card as a shared screen),
    offered to the relay."""
    publisher = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    publisher.addTrack(ColourCard(COLOUR))
    if screen is not None:
        publisher.addTrack(ColourCard(screen))
    publisher.addTrack(Tone(TONE))
    await publisher.setLocalDescription(await publisher.createOffer())
    answer = await send(publisher.localDescription.sdp)
    await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return publisher


async def until(condition: Any, seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def scenario(video: int, audio: int, result: dict[str, Any]) -> None:
    baseline_tasks = len(asyncio.all_tasks())
    subscribers: dict[str, Subscriber] = {}
    pending: list[asyncio.Task[None]] = []

    async def notify(room: str, peer: str, event: str, data: dict[str, Any]) -> None:
        result.setdefault("notified", []).append([peer, event, len(data.get("tracks", []))])
        if event == "renegotiate" and peer in subscribers:
            pending.append(asyncio.create_task(subscribers[peer].take(data)))

    # Room for exactly the eight subscribers' 16 streams: a ninth is refused.
    engine = RelayEngine(notify, media_addresses=("127.0.0.1",), max_streams=2 * SUBSCRIBERS)
    publisher = await publish(lambda sdp: engine.publish(ROOM, "publisher", sdp))

    for n in range(SUBSCRIBERS - 1):
        sub = subscribers[f"s{n}"] = Subscriber(f"s{n}", engine_answer(engine))
        await sub.take((await engine.subscribe(ROOM, sub.name)).as_dict())
    early = list(subscribers.values())
    result["connect_seconds"] = await until(
        lambda: all(s.frames("video") >= video and s.frames("audio") >= audio for s in early),
        CONNECT,
        "the first seven subscribers did not all decode media",
    )
    await asyncio.sleep(1.0)  # well into the stream: the last keyframe is long past
    result["keyframe_requests_before_late"] = engine.stats().keyframe_requests
    late = subscribers["late"] = Subscriber("late", engine_answer(engine))
    asked = time.monotonic()
    await late.take((await engine.subscribe(ROOM, "late")).as_dict())
    await until(lambda: late.frames("video") >= 1, LATE_FIRST_FRAME, "no frame for the late one")
    result["late_first_frame_seconds"] = round(time.monotonic() - asked, 3)
    await until(
        lambda: late.frames("video") >= video and late.frames("audio") >= audio,
        CONNECT,
        "the late subscriber did not decode media",
    )
    result["subscribers"] = {
        name: {
            "video": s.frames("video"),
            "audio": s.frames("audio"),
            **{f"video_{k}": v for k, v in s.sinks["video"].video_facts().items()},
            **{f"audio_{k}": v for k, v in s.sinks["audio"].audio_facts().items()},
        }
        for name, s in subscribers.items()
    }
    result["during"] = vars(engine.stats())
    try:
        await engine.subscribe(ROOM, "ninth")
        result["ninth"] = "accepted"
    except RelayError as error:
        result["ninth"] = error.code.value

    await engine.leave(ROOM, "publisher")
    await asyncio.gather(*pending)
    result["after_publisher_left"] = vars(engine.stats())
    result["last_offer_tracks"] = {n: len(s.offers[-1]["tracks"]) for n, s in subscribers.items()}
    for name in subscribers:
        await engine.leave(ROOM, name)
    gc.collect()
    result["after_all_left"] = vars(engine.stats())
    result["media_peers_alive"] = sum(isinstance(o, MediaPeer) for o in gc.get_objects())
    await publisher.close()
    for sub in subscribers.values():
        await sub.close()
    await engine.close()
    await asyncio.sleep(0.5)  # let aiortc's own tasks of the closed connections finish
    result["tasks_left"] = len(asyncio.all_tasks()) - baseline_tasks


def run_main(scenario: Callable[[dict[str, Any]], Awaitable[None]], result: dict[str, Any]) -> int:
    """Run a scenario, print its JSON result line; 0 if it ran to its end."""
    started = time.monotonic()
    try:
        asyncio.run(scenario(result))
        result["ok"] = True
    except BaseException as error:
        traceback.print_exc()
        result.update(ok=False, error=f"{type(error).__name__}: {error}")
    print(json.dumps({**result, "seconds": round(time.monotonic() - started, 2)}), flush=True)
    return 0 if result["ok"] else 1


def main_with_targets(
    scenario: Callable[[int, int, dict[str, Any]], Awaitable[None]], seconds: float
) -> int:
    """`python -m <scenario> VIDEO AUDIO`: frame targets from the command line."""
    watchdog(seconds)
    video, audio = int(sys.argv[1]), int(sys.argv[2])
    return run_main(lambda result: scenario(video, audio, result), {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--video", type=int, default=30)
    parser.add_argument("--audio", type=int, default=50)
    args = parser.parse_args()
    watchdog(WATCHDOG)
    result: dict[str, Any] = {"sent": {"rgb": COLOUR, "tone_hz": TONE}}
    return run_main(lambda r: scenario(args.video, args.audio, r), result)


if __name__ == "__main__":
    sys.exit(main())
