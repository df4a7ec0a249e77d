"""The relay's aiortc adapter: the internals it relies on are checked, and real VP8 and
Opus frames go through its receiving side and fan-out with keyframes recognised and a new
subscriber held back until the next keyframe. (Forwarding between real peers:
tests/e2e/test_relay_engine.py.)"""

from __future__ import annotations

import asyncio
import fractions
from typing import Any

import aiortc
import av
import numpy as np
import pytest
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av.video.frame import PictureType

from telehealth.rooms.relay import aiortc_adapter as adapter

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def vp8_frames(count: int) -> list[bytes]:
    """Encoded VP8 frames from libvpx: a keyframe, then inter frames."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 48, "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.options = {"deadline": "realtime", "g": "1000"}
    out: list[bytes] = []
    for n in range(count):
        image = np.full((48, 64, 3), (n * 7) % 255, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.pict_type = n, PictureType.NONE
        out.extend(bytes(p) for p in codec.encode(frame))
    out.extend(bytes(p) for p in codec.encode(None))
    return out


def test_the_pinned_aiortc_passes_the_internals_check() -> None:
    adapter.check_internals()
    assert aiortc.__version__ == adapter.AIORTC_VERSION
    assert av.__version__ == adapter.AV_VERSION


def test_another_aiortc_version_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(adapter.InternalsChanged, match=r"aiortc 1\.17\.0"):
        adapter.check_internals()


def test_a_changed_receiver_method_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    async def send_pli(self: Any, media_ssrc: int, reason: str) -> None: ...

    monkeypatch.setattr(RTCRtpReceiver, "_send_rtcp_pli", send_pli)
    with pytest.raises(adapter.InternalsChanged, match="_send_rtcp_pli"):
        adapter.check_internals()


async def test_frames_become_packets_and_a_late_subscriber_waits_for_a_keyframe() -> None:
    frames = vp8_frames(10)
    fanout = adapter.Fanout("video", VP8)
    early = fanout.attach("early")
    ended: list[bool] = []
    receiving = adapter._PacketQueue(fanout.deliver, lambda: ended.append(True))
    receiving.put((VP8, JitterFrame(frames[0], 0)))
    receiving.put((VP8, JitterFrame(frames[1], 3000)))
    late = fanout.attach("late")  # mid-stream: the next frames are inter frames
    for n, data in enumerate(frames[2:], start=2):
        receiving.put((VP8, JitterFrame(data, n * 3000)))
    received = [await early.recv() for _ in frames]
    assert [bytes(p) for p in received] == frames
    assert [p.is_keyframe for p in received] == [True] + [False] * (len(frames) - 1)
    assert received[1].pts == 3000
    assert received[1].time_base == fractions.Fraction(1, 90000)
    assert late._queue.empty()  # nothing before a keyframe
    assert fanout.outlets[id(late)].gated == len(frames) - 2

    key = vp8_frames(1)[0]
    receiving.put((VP8, JitterFrame(key, 99000)))
    first = await asyncio.wait_for(late.recv(), 1)
    assert first.is_keyframe
    assert bytes(first) == key

    receiving.put(None)  # the receiver stops: every copy ends
    assert ended == [True]
    fanout.end()
    with pytest.raises(aiortc.mediastreams.MediaStreamError):
        await asyncio.wait_for(late.recv(), 1)


async def test_audio_is_never_held_back() -> None:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48000, "stereo", "s16"
    samples = np.zeros((1, 960 * 2), dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
    frame.sample_rate, frame.pts = 48000, 0
    packets = [bytes(p) for p in codec.encode(frame)] + [bytes(p) for p in codec.encode(None)]
    fanout = adapter.Fanout("audio", OPUS)
    late = fanout.attach("late")
    receiving = adapter._PacketQueue(fanout.deliver, lambda: None)
    for n, data in enumerate(packets):
        receiving.put((OPUS, JitterFrame(data, n * 960)))
    got = [await asyncio.wait_for(late.recv(), 1) for _ in packets]
    assert [bytes(p) for p in got] == packets
    assert all(p.is_keyframe for p in got)


def test_h264_keyframes_are_told_by_their_nal_type() -> None:
    idr = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x65\x88"
    inter = b"\x00\x00\x00\x01\x41\x9a"
    assert adapter._is_keyframe("video/h264", idr)
    assert not adapter._is_keyframe("video/h264", inter)


def test_detaching_ends_that_copy_only() -> None:
    fanout = adapter.Fanout("audio", OPUS)
    kept, dropped = fanout.attach("kept"), fanout.attach("dropped")
    fanout.detach(dropped)
    assert list(fanout.outlets) == [id(kept)]
    assert dropped._queue.get_nowait() is None
