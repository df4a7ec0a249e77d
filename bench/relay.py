"""The relay benchmark: one publisher (640x480, 30 fps VP8 and Opus) and N subscribers,
through this project's forwarding relay and, in the same run, through aiortc's stock
`MediaRelay` (decode once, encode per subscriber). Per N: the relay process's CPU (% of
one core), that CPU per forwarded stream, and the frames a second each subscriber gets.

Relay, publisher and subscribers are separate processes (subscribers up to 16 per
process); subscribers count encoded frames without decoding them. Media stays on
loopback: run it inside a network namespace with only `lo`:

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/relay.py'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import multiprocessing
import os
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PER_PROCESS = 16
CONNECT_SECONDS = 120.0
WIDTH, HEIGHT, FPS = 640, 480, 30


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def serve(channel: Connection, role: str, arg: str) -> None:
    """A process of the benchmark: `relay` (mode in `arg`), `publisher` or `subscribers`."""
    from telehealth.rooms.relay.aiortc_adapter import use_host_addresses

    use_host_addresses(("127.0.0.1",))
    runner = {"relay": _relay, "publisher": _publisher, "subscribers": _subscribers}[role]
    asyncio.run(runner(channel, arg))


async def _requests(channel: Connection) -> asyncio.Queue[Any]:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def readable() -> None:
        try:
            inbox.put_nowait(channel.recv())
        except (EOFError, OSError):
            loop.remove_reader(channel.fileno())
            inbox.put_nowait(None)

    loop.add_reader(channel.fileno(), readable)
    return inbox


async def _relay(channel: Connection, mode: str) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay

    from telehealth.rooms.relay.engine import RelayEngine

    async def notify(room: str, peer: str, event: str, data: dict[str, Any]) -> None: ...

    engine = RelayEngine(notify, media_addresses=("127.0.0.1",))
    stock = MediaRelay()
    sources: list[Any] = []
    pcs: list[Any] = []
    inbox = await _requests(channel)
    while (message := await inbox.get()) is not None:
        op, name, sdp = message
        if mode == "forward":
            if op == "publish":
                channel.send(await engine.publish("bench", name, sdp))
            elif op == "subscribe":
                channel.send((await engine.subscribe("bench", name)).sdp)
            else:
                channel.send(await engine.answer("bench", name, sdp) and None)
            continue
        if op == "publish":
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pcs.append(pc)
            pc.on("track", sources.append)
            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            channel.send(pc.localDescription.sdp)
        elif op == "subscribe":
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pcs.append(pc)
            for track in sources:
                pc.addTrack(stock.subscribe(track, buffered=False))
            await pc.setLocalDescription(await pc.createOffer())
            channel.send(pc.localDescription.sdp)
        else:
            await pcs[int(name.split("-")[1]) + 1].setRemoteDescription(
                RTCSessionDescription(sdp, "answer")
            )
            channel.send(None)


async def _publisher(channel: Connection, _: str) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(encoded_card(_encode_card(2 * FPS)))
    pc.addTrack(encoded_tone(_encode_tone()))
    await pc.setLocalDescription(await pc.createOffer())
    channel.send(pc.localDescription.sdp)
    answer = await asyncio.to_thread(channel.recv)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    with contextlib.suppress(EOFError):
        await asyncio.to_thread(channel.recv)  # until told to stop
    await pc.close()


def _encode_card(frames: int) -> list[bytes]:
    """Two seconds of a 640x480 moving card in VP8 (~1 Mbps), encoded once: the publisher
    then only paces and re-packetizes them, so that its own CPU does not limit the run."""
    import av
    import numpy as np
    from av.video.frame import PictureType

    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.time_base = fractions.Fraction(1, FPS)
    codec.bit_rate = 1_000_000
    codec.options = {"deadline": "realtime", "g": str(frames), "cpu-used": "8"}
    out: list[bytes] = []
    for n in range(frames):
        image = np.random.default_rng(n).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        image[:, (n * 8) % (WIDTH - 32) :][:, :32] = 255
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.pict_type = n, PictureType.NONE
        out.extend(bytes(p) for p in codec.encode(frame))
    out.extend(bytes(p) for p in codec.encode(None))
    return out


def _encode_tone() -> list[bytes]:
    """One second of a 440 Hz tone in Opus, 20 ms packets."""
    import av
    import numpy as np

    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48000, "stereo", "s16"
    out: list[bytes] = []
    for n in range(50):
        t = (n * 960 + np.arange(960)) / 48000
        wave = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(wave, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts = 48000, n * 960
        out.extend(bytes(p) for p in codec.encode(frame))
    return out


class _Looped:
    """Paces pre-encoded packets in a loop, as `av.Packet`s aiortc's sender only packs."""

    def __init__(self, packets: list[bytes], rate: int, clock: int) -> None:
        self._packets, self._rate, self._clock = packets, rate, clock
        self._sent = 0
        self._start = 0.0

    async def next(self) -> Any:
        import av

        if self._sent == 0:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self._sent / self._rate - time.monotonic()))
        data = self._packets[self._sent % len(self._packets)]
        packet = av.Packet(data)
        packet.pts = self._sent * self._clock // self._rate
        packet.time_base = fractions.Fraction(1, self._clock)
        packet.is_keyframe = self._sent % len(self._packets) == 0
        self._sent += 1
        return packet


def _track(kind: str, packets: list[bytes], rate: int, clock: int) -> Any:
    from aiortc import MediaStreamTrack

    class Looped(MediaStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.kind = kind
            self._source = _Looped(packets, rate, clock)

        async def recv(self) -> Any:
            return await self._source.next()

    return Looped()


def encoded_card(packets: list[bytes]) -> Any:
    """The card as a VP8 packet track."""
    return _track("video", packets, FPS, 90000)


def encoded_tone(packets: list[bytes]) -> Any:
    """The tone as an Opus packet track."""
    return _track("audio", packets, 50, 48000)


async def _subscribers(channel: Connection, _: str) -> None:
    from telehealth.rooms.relay.aiortc_adapter import MediaPeer

    peers: list[MediaPeer] = []
    inbox = await _requests(channel)
    while (message := await inbox.get()) is not None:
        if message[0] == "offer":
            peer = MediaPeer(())
            peers.append(peer)
            channel.send(await peer.answer(message[1]))
        elif message[0] == "count":
            counts = [{i.kind: i.fanout.packets for i in peer.incoming} for peer in peers]
            channel.send(counts)
    for peer in peers:
        await peer.close()


class Roles:
    """The processes of one measurement and their channels."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[Any] = []

    def start(self, role: str, arg: str = "") -> tuple[Connection, int]:
        ours, theirs = self.context.Pipe(duplex=True)
        process = self.context.Process(target=serve, args=(theirs, role, arg), daemon=True)
        process.start()
        theirs.close()
        self.processes.append((process, ours))
        assert process.pid is not None
        return ours, process.pid

    def stop(self) -> None:
        for _, channel in self.processes:
            channel.close()
        for process, _ in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()


def ask(channel: Connection, *message: Any) -> Any:
    channel.send(message)
    return channel.recv()


def measure(mode: str, n: int, settle: float, window: float) -> dict[str, Any]:
    """One row: relay CPU and delivered frame rates with n subscribers."""
    roles = Roles()
    try:
        relay, relay_pid = roles.start("relay", mode)
        publisher, _ = roles.start("publisher")
        offer = publisher.recv()
        publisher.send(ask(relay, "publish", "publisher", offer))
        groups = [roles.start("subscribers")[0] for _ in range(-(-n // PER_PROCESS))]
        for index in range(n):
            name = f"viewer-{index}"
            group = groups[index // PER_PROCESS]
            sdp = ask(relay, "subscribe", name, None)
            ask(relay, "answer", name, ask(group, "offer", sdp))
        deadline = time.monotonic() + CONNECT_SECONDS
        while time.monotonic() < deadline and not all(
            c.get("video", 0) > 0 for g in groups for c in ask(g, "count")
        ):
            time.sleep(0.5)  # every subscriber connected and receiving
        time.sleep(settle)
        before = [ask(g, "count") for g in groups]
        cpu0, t0 = cpu_seconds(relay_pid), time.monotonic()
        time.sleep(window)
        cpu1, t1 = cpu_seconds(relay_pid), time.monotonic()
        after = [ask(g, "count") for g in groups]
        publisher.send("stop")
    finally:
        roles.stop()
    elapsed = t1 - t0
    rates: dict[str, list[float]] = {"video": [], "audio": []}
    for b_group, a_group in zip(before, after, strict=True):
        for b, a in zip(b_group, a_group, strict=True):
            for kind in rates:
                rates[kind].append((a.get(kind, 0) - b.get(kind, 0)) / elapsed)
    cpu = 100 * (cpu1 - cpu0) / elapsed
    return {
        "relay": mode,
        "subscribers": n,
        "relay_cpu_pct": round(cpu, 1),
        "cpu_pct_per_stream": round(cpu / (2 * n), 2),
        "video_fps_mean": round(sum(rates["video"]) / n, 1),
        "video_fps_min": round(min(rates["video"]), 1),
        "audio_pps_mean": round(sum(rates["audio"]) / n, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscribers", default="1,4,16,32,64")
    parser.add_argument("--modes", default="forward,stock")
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds after all receive, before measuring"
    )
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured")
    args = parser.parse_args()
    print(
        "| relay | N | relay CPU (% of a core) | per stream | video fps mean / min | audio pkts/s |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for n in [int(x) for x in args.subscribers.split(",")]:
        for mode in args.modes.split(","):
            row = measure(mode, n, args.settle, args.window)
            print(
                f"| {mode} | {n} | {row['relay_cpu_pct']} | {row['cpu_pct_per_stream']} | "
                f"{row['video_fps_mean']} / {row['video_fps_min']} | {row['audio_pps_mean']} |",
                flush=True,
            )
            print(json.dumps(row), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
