"""A two-party visit with real aiortc peers, run by `tests/e2e/test_mesh_media.py` inside a
network namespace that has only `lo` (`tests.support.netns.run_isolated`).

One process: a fresh SQLite database, the real app on 127.0.0.1, the seeded network, a
booked visit; then the doctor and the patient each take a join grant, connect to `/rtc`,
join (the patient waits until the doctor admits it), and exchange an offer and an answer
through `signal`. Each sends the other a coloured test card with a moving bar and a tone
of its own, and counts the frames it decodes from the other: for a few seconds, and on
until the targets are reached.
Both report `media` connected and a `quality` sample, then leave.

Prints one JSON line: per side what it sent, the frames it received per kind and what the
last of them looked and sounded like (size, colour, dominant frequency), connection
states; and the room's event log. Exits 0 when the call went through (the test judges
the numbers), 1 with the error otherwise. It bounds itself: about a minute at most,
whatever happens.

    unshare -n sh -c 'ip link set lo up && exec python -m tests.e2e.mesh_call_scenario'
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import av
import numpy as np
import socketio
from aiohttp.test_utils import TestClient, TestServer
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import (
    AUDIO_PTIME,
    AudioStreamTrack,
    MediaStreamError,
    VideoStreamTrack,
)
from av.video.frame import PictureType

from telehealth.app import create_app
from telehealth.config import PasswordPolicy, Settings
from tests.support import databases
from tests.support.netns import loopback_only_ice
from tests.support.network import Network, build_network
from tests.support.processes import free_port
from tests.support.rtc import NAMESPACE, RtcClient, book_visit, join_grant

T = TypeVar("T")

# What each side sends, so that the receiver can tell it got the other's media.
WIDTH: Final = 320
HEIGHT: Final = 240
COLOURS: Final = {"doctor": (30, 60, 200), "patient": (200, 50, 40)}  # RGB: blue, red
TONES: Final = {"doctor": 440.0, "patient": 660.0}  # Hz
AUDIO_RATE: Final = 48000

# Budgets (seconds). The machine running this may be small and busy: waits are generous
# and end as soon as their condition holds; the whole scenario stays within about a minute.
STEP: Final = 20.0  # one signalling step or a REST call
CONNECT: Final = 25.0  # ICE + DTLS until both peer connections are connected
CALL: Final = 50.0  # everything from the server's start to the leave
MIN_RECEIVE: Final = 3.0  # media flows at least this long, even when the targets come sooner
RTT_POLLS: Final = 20  # x 0.25 s for a first round-trip time
RESERVE: Final = 15.0  # of CALL, kept for the reports, the leave and the log after the media
CLEANUP: Final = 10.0
WATCHDOG: Final = 75.0  # hard stop of the process, should anything hang

FAST_PASSWORDS: Final = PasswordPolicy(time_cost=1, memory_cost_kib=8, parallelism=1)


class ColourCard(VideoStreamTrack):
    """A WIDTHxHEIGHT card of one colour with a white bar moving across it, at 30 fps."""

    def __init__(self, rgb: tuple[int, int, int]) -> None:
        super().__init__()
        self._card = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
        self._card[:] = rgb
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = self._card.copy()
        left = (self._count * 4) % (WIDTH - 16)
        image[:, left : left + 16] = 255
        self._count += 1
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        # aiortc's VP8 encoder makes every I frame a keyframe: leave the choice to it.
        frame.pict_type = PictureType.NONE
        return frame


class Tone(AudioStreamTrack):
    """A sine tone, 48 kHz mono, in 20 ms frames paced in real time."""

    def __init__(self, hertz: float) -> None:
        super().__init__()
        self._hertz = hertz
        self._samples = int(AUDIO_PTIME * AUDIO_RATE)
        self._sent = 0
        self._started = 0.0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._sent == 0:
            self._started = time.monotonic()
        else:
            await asyncio.sleep(self._started + self._sent / AUDIO_RATE - time.monotonic())
        t = (self._sent + np.arange(self._samples)) / AUDIO_RATE
        wave = (0.3 * 32767 * np.sin(2 * np.pi * self._hertz * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._sent += self._samples
        return frame


@dataclass
class Sink:
    """Reads one remote track to its end, counting decoded frames and keeping the last."""

    kind: str
    frames: int = 0
    last_video: av.VideoFrame | None = None
    last_audio: deque[av.AudioFrame] = field(default_factory=lambda: deque(maxlen=25))

    async def drain(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.frames += 1
            if isinstance(frame, av.VideoFrame):
                self.last_video = frame
            elif isinstance(frame, av.AudioFrame):
                self.last_audio.append(frame)

    def video_facts(self) -> dict[str, Any]:
        """Size and mean colour of the last frame."""
        if self.last_video is None:
            return {}
        rgb = self.last_video.to_ndarray(format="rgb24")
        return {
            "size": [self.last_video.width, self.last_video.height],
            "mean_rgb": [round(float(c)) for c in rgb.reshape(-1, 3).mean(axis=0)],
        }

    def audio_facts(self) -> dict[str, Any]:
        """Loudness and dominant frequency of the last half second."""
        if not self.last_audio:
            return {}
        rate = self.last_audio[-1].sample_rate
        mono = np.concatenate([_mono(f) for f in self.last_audio])
        spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
        peak = float(np.fft.rfftfreq(len(mono), 1 / rate)[int(np.argmax(spectrum))])
        return {
            "sample_rate": rate,
            "rms": round(float(np.sqrt(np.mean(mono**2))), 1),
            "peak_hz": round(peak, 1),
        }


def _mono(frame: av.AudioFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    samples = frame.to_ndarray().astype(np.float64)
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        return samples.mean(axis=0)  # type: ignore[no-any-return]
    return samples.reshape(-1, channels).mean(axis=1)  # type: ignore[no-any-return]


@dataclass
class Party:
    """One side of the call: its `/rtc` client, its grant and its peer connection."""

    side: str
    user: str
    rtc: RtcClient
    grant: dict[str, Any]
    pc: RTCPeerConnection
    sinks: dict[str, Sink] = field(default_factory=dict)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    failed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def peer_id(self) -> str:
        return str(self.grant["peer_id"])

    async def ok(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Emit, wait (generously) for the ack envelope, expect it to be ok."""
        answer = await self.rtc.sio.call(event, data, namespace=NAMESPACE, timeout=STEP)
        if not (isinstance(answer, dict) and answer.get("ok") is True):
            raise AssertionError(f"{self.side}: {event} answered {answer!r}")
        return dict(answer["data"])

    async def next(self, event: str) -> Any:
        return await self.rtc.next(event, STEP)

    def watch(self) -> None:
        """Follow the peer connection: its state, and the tracks the other side sends."""

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            state = self.pc.connectionState
            self.states.append(state)
            if state == "connected":
                self.connected.set()
            elif state in {"failed", "closed"}:
                self.failed.set()

        @self.pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            sink = self.sinks.setdefault(track.kind, Sink(track.kind))
            reader = asyncio.create_task(sink.drain(track), name=f"{self.side}-{track.kind}")
            self.readers.append(reader)

    def send_media(self) -> None:
        self.pc.addTrack(ColourCard(COLOURS[self.side]))
        self.pc.addTrack(Tone(TONES[self.side]))

    async def signal(self, to: Party, kind: str) -> None:
        """Send this side's local description (aiortc puts every candidate in it)."""
        local = self.pc.localDescription
        payload = {"type": local.type, "sdp": local.sdp}
        await self.ok("signal", {"to": to.peer_id, "type": kind, "payload": payload})

    async def take_signal(self, sender: Party, kind: str) -> RTCSessionDescription:
        message = await self.next("signal")
        if message.get("from") != sender.peer_id or message.get("type") != kind:
            raise AssertionError(f"{self.side}: expected a {kind} from {sender.side}: {message}")
        return RTCSessionDescription(sdp=message["payload"]["sdp"], type=kind)

    def count(self, kind: str) -> int:
        sink = self.sinks.get(kind)
        return sink.frames if sink else 0

    async def quality(self, since: float) -> dict[str, Any]:
        """A `quality` report from the peer connection's statistics and what was decoded.
        The round trip is known once an RTCP receiver report has answered a sender report
        (about a second in): waited for a little, else reported as 0."""
        for _ in range(RTT_POLLS):
            stats = await self.pc.getStats()
            rtt = [
                s.roundTripTime
                for s in stats.values()
                if s.type == "remote-inbound-rtp" and s.roundTripTime is not None
            ]
            if rtt:
                break
            await asyncio.sleep(0.25)
        received = sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")
        lost = sum(max(s.packetsLost, 0) for s in stats.values() if s.type == "inbound-rtp")
        bytes_in = sum(s.bytesReceived for s in stats.values() if s.type == "transport")
        elapsed = max(time.monotonic() - since, 0.001)
        video = self.sinks.get("video")
        frame = video.last_video if video else None
        return {
            "kind": "quality",
            "rtt_ms": round(max(rtt, default=0.0) * 1000, 1),
            "loss_pct": round(100 * lost / max(received + lost, 1), 2),
            "bitrate_kbps": round(bytes_in * 8 / elapsed / 1000, 1),
            "width": frame.width if frame else 0,
            "height": frame.height if frame else 0,
            "fps": round(min(self.count("video") / elapsed, 240), 1),
        }

    def summary(self) -> dict[str, Any]:
        video, audio = self.sinks.get("video"), self.sinks.get("audio")
        return {
            "peer_id": self.peer_id,
            "sent": {
                "size": [WIDTH, HEIGHT],
                "rgb": list(COLOURS[self.side]),
                "tone_hz": TONES[self.side],
            },
            "received": {"video": self.count("video"), "audio": self.count("audio")},
            "video": video.video_facts() if video else {},
            "audio": audio.audio_facts() if audio else {},
            "connection_state": self.pc.connectionState,
            "ice_connection_state": self.pc.iceConnectionState,
            "states": self.states,
        }

    async def close(self) -> None:
        """Stop the media, close the peer connection, disconnect from `/rtc`."""
        for track in (s.track for s in self.pc.getSenders() if s.track):
            track.stop()
        await self.pc.close()
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        await self.rtc.close()


async def within(seconds: float, what: str, step: Awaitable[T]) -> T:
    """One step with its own deadline, named in the error if it passes."""
    try:
        return await asyncio.wait_for(step, seconds)
    except TimeoutError:
        raise TimeoutError(f"{what}: nothing after {seconds:.0f} s") from None


async def arrive(
    net: Network, side: str, user: str, room_id: str, url: str, parties: list[Party]
) -> Party:
    """A party's grant, its `/rtc` connection, and its (not yet used) peer connection;
    listed in `parties` before it connects, so that it is closed whatever happens."""
    grant = await within(STEP, f"{side}: POST join", join_grant(net, user, room_id))
    # No STUN or TURN: every candidate is a host candidate on 127.0.0.1.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    party = Party(side, user, RtcClient(), grant, pc)
    parties.append(party)
    party.watch()
    connecting = party.rtc.sio.connect(
        url,
        namespaces=[NAMESPACE],
        auth={"token": grant["token"]},
        transports=["websocket"],
        wait_timeout=STEP,
    )
    try:
        await within(STEP, f"{side}: connect to {NAMESPACE}", connecting)
    except socketio.exceptions.ConnectionError as error:
        raise AssertionError(f"{side}: /rtc refused: {error} {party.rtc.refusal}") from None
    return party


async def admit_patient(doctor: Party, patient: Party) -> dict[str, Any]:
    """Both join; the patient waits, the doctor admits it, the patient joins again."""
    hosted = await doctor.ok("join", {})
    assert hosted["admitted"] is True, hosted
    waited = await patient.ok("join", {})
    assert waited["admitted"] is False, waited
    while True:  # the waiting list, as the host sees it change
        waiting = await doctor.next("waiting")
        if any(w["peer_id"] == patient.peer_id for w in waiting["waiting"]):
            break
    await doctor.ok("admit", {"peer_id": patient.peer_id})
    await patient.next("admitted")
    inside = await patient.ok("join", {})
    assert inside["admitted"] is True, inside
    assert [p["peer_id"] for p in inside["peers"]] == [doctor.peer_id], inside
    joined = await doctor.next("peer-joined")
    assert joined["peer_id"] == patient.peer_id, joined
    return {"host_join": hosted["state"], "patient_rejoin": inside["state"]}


async def negotiate(doctor: Party, patient: Party) -> None:
    """The doctor offers, the patient answers, both through `signal`."""
    doctor.send_media()
    await doctor.pc.setLocalDescription(await doctor.pc.createOffer())
    await doctor.signal(patient, "offer")
    await patient.pc.setRemoteDescription(await patient.take_signal(doctor, "offer"))
    patient.send_media()
    await patient.pc.setLocalDescription(await patient.pc.createAnswer())
    await patient.signal(doctor, "answer")
    await doctor.pc.setRemoteDescription(await doctor.take_signal(patient, "answer"))


async def until_connected(party: Party) -> None:
    connected = asyncio.create_task(party.connected.wait())
    failed = asyncio.create_task(party.failed.wait())
    try:
        await asyncio.wait({connected, failed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        connected.cancel()
        failed.cancel()
    if not party.connected.is_set():
        raise AssertionError(f"{party.side}: the peer connection went {party.states}")


async def receive(parties: list[Party], video: int, audio: int, seconds: float) -> float:
    """Let the media flow for MIN_RECEIVE seconds and until every side has decoded `video`
    and `audio` frames from the other, or the time is up (the test judges the counts);
    returns how long it took."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        if any(p.failed.is_set() for p in parties):
            break
        enough = all(p.count("video") >= video and p.count("audio") >= audio for p in parties)
        if enough and elapsed >= MIN_RECEIVE:
            break
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def event_log(net: Network, who: str, room_id: str) -> list[dict[str, Any]]:
    """The whole log, following the pages."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = f"?limit=200&cursor={cursor}" if cursor else "?limit=200"
        resp = await net.client.get(
            f"/api/v1/rooms/{room_id}/events{query}", headers=await net.headers(who)
        )
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        items += [
            {"kind": e["kind"], "peer_id": e["peer_id"], "details": e["details"]}
            for e in page["items"]
        ]
        cursor = page["next"]
        if not cursor:
            return items


async def visit(
    net: Network, url: str, video: int, audio: int, result: dict[str, Any], parties: list[Party]
) -> None:
    """Book, join, admit, negotiate, let the media flow, report and leave; fills `result`
    and `parties` as it goes (kept when a step fails)."""
    started = time.monotonic()
    timings: dict[str, float] = result.setdefault("timings", {})

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 2)

    room_id = (await book_visit(net))["room_id"]
    result["room_id"] = room_id
    mark("booked")
    doctor = await arrive(net, "doctor", "doctor_a", room_id, url, parties)
    patient = await arrive(net, "patient", "patient_self", room_id, url, parties)
    result["joins"] = await admit_patient(doctor, patient)
    mark("admitted")
    await negotiate(doctor, patient)
    mark("negotiated")
    for party in parties:
        await within(CONNECT, f"{party.side}: connected", until_connected(party))
    connected_at = time.monotonic()
    mark("connected")
    for party in parties:
        await party.ok("report", {"kind": "media", "state": "connected"})
        await party.ok("report", {"kind": "ice", "state": party.pc.iceConnectionState})
    spare = max(CALL - RESERVE - (time.monotonic() - started), MIN_RECEIVE)
    result["receive_seconds"] = round(await receive(parties, video, audio, spare), 2)
    mark("received")
    for party in parties:
        report = await party.quality(connected_at)
        result.setdefault("quality", {})[party.side] = report
        await party.ok("report", report)
    for party in parties:
        result[party.side] = party.summary()
    for party in parties:
        await party.ok("leave", {})
    mark("left")
    result["events"] = await event_log(net, "doctor_a", room_id)


async def call(
    database_url: str, data_dir: Path, video: int, audio: int, result: dict[str, Any]
) -> None:
    """The real app on 127.0.0.1 and the visit on it, within CALL seconds; then hang up
    and stop the server whatever happened."""
    loopback_only_ice()
    port = free_port()
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key="test-secret-key-not-for-production",
        passwords=FAST_PASSWORDS,
        public_url=f"http://127.0.0.1:{port}",
    )
    parties: list[Party] = []
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1", port=port))
    budget = asyncio.timeout(CALL)
    try:
        async with budget:
            await client.start_server()
            net = await build_network(client, settings)
            await visit(net, settings.public_url, video, audio, result, parties)
    except TimeoutError:
        if not budget.expired():
            raise
        steps = list(result.get("timings", {})) or ["none"]
        raise TimeoutError(f"over {CALL:.0f} s; last step done: {steps[-1]}") from None
    finally:
        for party in parties:  # also when something failed: how far the media got
            result.setdefault(party.side, party.summary())
        await hang_up(parties, client)


async def hang_up(parties: list[Party], client: TestClient[Any, Any]) -> None:
    """Close the peers and their sockets, then stop the server (errors only printed, so
    that they do not hide the scenario's own failure)."""
    try:
        async with asyncio.timeout(CLEANUP):
            for party in parties:
                try:
                    await party.close()
                except Exception:
                    traceback.print_exc()
            await client.close()
    except TimeoutError:
        print(f"[mesh_call_scenario] clean-up took over {CLEANUP:.0f} s", file=sys.stderr)


async def scenario(video: int, audio: int, result: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="mesh-call-") as tmp:
        directory = Path(tmp)
        path = await asyncio.to_thread(databases.sqlite_template, directory)
        data_dir = directory / "data"
        data_dir.mkdir()
        await call(f"sqlite+aiosqlite:///{path}", data_dir, video, audio, result)


def watchdog(seconds: float) -> None:
    """End the process if it outlives its budget (a hang must not hold the test's run)."""

    def fire() -> None:
        print(f"[mesh_call_scenario] still running after {seconds:.0f} s", file=sys.stderr)
        sys.stderr.flush()
        os._exit(3)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--video", type=int, default=30, help="video frames to wait for")
    parser.add_argument("--audio", type=int, default=50, help="audio frames to wait for")
    args = parser.parse_args()
    watchdog(WATCHDOG)
    started = time.monotonic()
    result: dict[str, Any] = {"targets": {"video": args.video, "audio": args.audio}}
    try:
        asyncio.run(scenario(args.video, args.audio, result))
        result["ok"] = True
        code = 0
    except BaseException as error:
        traceback.print_exc()
        result.update(ok=False, error=f"{type(error).__name__}: {error}")
        code = 1
    result["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(result), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
