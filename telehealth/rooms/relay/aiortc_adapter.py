"""The relay's only contact with aiortc: server-side peer connections that receive encoded
frames without decoding them and send them on without encoding them again.

aiortc 1.16 decodes every received frame (the receiver hands each re-assembled frame to a
decoder thread through a queue) but already sends a track that yields `av.Packet` by
re-packetizing only. This module replaces, per receiving peer of the relay and never
process-wide, the receiver's decoder queue with one that turns each frame into an
`av.Packet` (keyframe flag from the VP8 frame tag or the H.264 NAL type) on the event loop
and hands it to a `Fanout`. A subscriber's keyframe request (PLI/FIR) becomes a throttled
PLI to the publisher, and a subscriber who joins mid-stream gets nothing until the next
keyframe. Packets are never dropped on the way (a lost VP8 packet corrupts the picture
until the next keyframe).

These reaches into aiortc's internals are checked when this module is imported
(`check_internals`): an aiortc that changes underneath fails loudly here, not silently in
a call. The versions it was tested with are pinned in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import fractions
import inspect
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import aioice.ice
import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
    rtcrtpreceiver,
)
from aiortc.codecs import opus, vpx
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

__all__ = [
    "AIORTC_VERSION",
    "AV_VERSION",
    "Fanout",
    "Forwarding",
    "IceServerConfig",
    "InternalsChanged",
    "KeyframeRequests",
    "MediaPeer",
    "check_internals",
    "use_host_addresses",
]

log = logging.getLogger("telehealth.relay")

AIORTC_VERSION: Final = "1.16.0"
AV_VERSION: Final = "18.1.0"
# A burst of new subscribers (or a lossy one asking again and again) costs the publisher
# at most two keyframes a second.
KEYFRAME_INTERVAL: Final = 0.5
# What the relay forwards: VP8 and Opus are what browsers and aiortc all offer. H.264 is
# recognised (keyframes) but not offered, since its profiles would have to match per leg.
FORWARDED: Final = {"video": ("video/VP8",), "audio": ("audio/opus",)}

# An encoded frame, as aiortc's senders take it (not attached to any container stream).
EncodedFrame: TypeAlias = "av.Packet[Any]"

_DECODER_QUEUE: Final = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD: Final = "_RTCRtpReceiver__decoder_thread"


class InternalsChanged(RuntimeError):
    """aiortc or PyAV is not the version whose internals the relay was built against."""


# What the adapter calls or replaces, with the parameters it relies on (looked up when
# checked, so that a replaced attribute is seen)...
_SIGNATURES: Final[tuple[tuple[object, str, list[str]], ...]] = (
    (rtcrtpreceiver, "decoder_worker", ["loop", "input_q", "output_q", "decode_error"]),
    (RTCRtpReceiver, "_send_rtcp_pli", ["self", "media_ssrc"]),
    (RTCRtpSender, "_send_keyframe", ["self"]),
    (vpx.Vp8Encoder, "pack", ["self", "packet"]),
    (opus.OpusEncoder, "pack", ["self", "packet"]),
    (aioice.ice, "get_host_addresses", ["use_ipv4", "use_ipv6"]),
)
# ...and the lines of aiortc whose behaviour it depends on: the receiver's decoder queue
# (replaced per receiver), the sender's PLI/FIR hook (replaced per sender) and its
# pack-only path for pre-encoded packets.
_SOURCE_FRAGMENTS: Final[tuple[tuple[object, str, str], ...]] = (
    (RTCRtpReceiver, "__init__", "self.__decoder_queue: queue.Queue"),
    (RTCRtpReceiver, "receive", "self.__decoder_queue,"),
    (RTCRtpReceiver, "_handle_rtp_packet", "self.__decoder_queue.put((codec, encoded_frame))"),
    (RTCRtpSender, "_handle_rtcp_packet", "self._send_keyframe()"),
    (RTCRtpSender, "_next_encoded_frame", "self.__encoder.pack(data)"),
)


def check_internals() -> None:
    """Verify every aiortc internal the relay relies on; raise `InternalsChanged` if not."""
    import aiortc

    problems: list[str] = []
    if aiortc.__version__ != AIORTC_VERSION:
        problems.append(f"aiortc {aiortc.__version__} (built against {AIORTC_VERSION})")
    if av.__version__ != AV_VERSION:
        problems.append(f"PyAV {av.__version__} (built against {AV_VERSION})")
    for owner, name, parameters in _SIGNATURES:
        function = getattr(owner, name, None)
        if function is None or list(inspect.signature(function).parameters) != parameters:
            problems.append(f"{name}({', '.join(parameters)}) changed")
    for owner, name, fragment in _SOURCE_FRAGMENTS:
        function = getattr(owner, name, None)
        if function is None or fragment not in inspect.getsource(function):
            problems.append(f"{name} no longer has `{fragment}`")
    if problems:
        raise InternalsChanged("the relay's aiortc adapter needs review: " + "; ".join(problems))


check_internals()


def use_host_addresses(addresses: tuple[str, ...]) -> None:
    """Gather host candidates only on these local addresses (process-wide in aioice; relay
    workers are processes of their own). Empty: aioice's own choice (every address but
    loopback)."""
    if not addresses:
        return
    chosen = list(addresses)

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = configured


@dataclass(frozen=True)
class IceServerConfig:
    """A STUN/TURN server the relay's own peers may use (only reachable ones: an unreachable
    server costs 5 s per negotiation, since aiortc gathers every candidate first)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


def _is_keyframe(mime: str, data: bytes) -> bool:
    if mime == "video/vp8":
        # The frame tag's bit 0 is the inverted key-frame flag (RFC 6386, 9.1).
        return bool(data) and not data[0] & 0x01
    if mime == "video/h264":
        return _h264_starts_picture(data)
    return True


def _h264_starts_picture(data: bytes) -> bool:
    # aiortc's depayloader writes Annex-B: NAL units after 00 00 01 start codes.
    at = data.find(b"\x00\x00\x01")
    while 0 <= at < len(data) - 3:
        if data[at + 3] & 0x1F in (5, 7):  # an IDR slice or a sequence parameter set
            return True
        at = data.find(b"\x00\x00\x01", at + 3)
    return False


class _PacketQueue:
    """Stands in for a receiver's decoder queue. `put` runs on the event loop with each
    re-assembled frame: it becomes an `av.Packet` for the fan-out, with no thread hop and
    no decoding. The receiver's decoder thread only waits in `get` until the receiver
    stops it (it then ends the remote track itself)."""

    def __init__(self, deliver: Callable[[EncodedFrame], None], ended: Callable[[], None]) -> None:
        self._deliver = deliver
        self._ended = ended
        self._stop: queue.Queue[None] = queue.Queue()

    def put(self, task: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if task is None:
            self._stop.put(None)
            self._ended()
            return
        codec, frame = task
        mime = codec.mimeType.lower()
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = frame.timestamp
        packet.time_base = fractions.Fraction(1, codec.clockRate)
        packet.is_keyframe = _is_keyframe(mime, frame.data)
        self._deliver(packet)

    def get(self) -> None:
        return self._stop.get()


class KeyframeRequests:
    """Throttled PLIs from the relay's receiver to the publisher of one video track."""

    def __init__(self, receiver: RTCRtpReceiver, interval: float = KEYFRAME_INTERVAL) -> None:
        self._receiver = receiver
        self._interval = interval
        self._last = -interval
        self._sending: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.suppressed = 0

    def request(self) -> None:
        """Ask the publisher for a keyframe, unless one was asked for very recently."""
        now = time.monotonic()
        sources = self._receiver.getSynchronizationSources()
        if now - self._last < self._interval or not sources:
            self.suppressed += 1
            return
        self._last = now
        self.sent += 1
        task = asyncio.ensure_future(self._receiver._send_rtcp_pli(sources[0].source))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def close(self) -> None:
        """Wait for PLIs on their way."""
        await asyncio.gather(*self._sending, return_exceptions=True)


class ForwardedTrack(MediaStreamTrack):
    """One subscriber's copy of a published track: packets in order, never dropped."""

    def __init__(self, kind: str, track_id: str) -> None:
        super().__init__()
        self.kind = kind
        self._id = track_id
        self._queue: asyncio.Queue[EncodedFrame | None] = asyncio.Queue()

    async def recv(self) -> EncodedFrame:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        return packet

    def push(self, packet: EncodedFrame | None) -> None:
        """Queue a packet (None ends the track)."""
        self._queue.put_nowait(packet)


@dataclass
class _Outlet:
    track: ForwardedTrack
    waiting_for_keyframe: bool
    gated: int = 0


@dataclass
class Fanout:
    """One published track handed on to every subscriber's copy of it."""

    kind: str
    codec: RTCRtpCodecParameters
    keyframes: KeyframeRequests | None = None
    outlets: dict[int, _Outlet] = field(default_factory=dict)
    packets: int = 0
    ended: bool = False

    def deliver(self, packet: EncodedFrame) -> None:
        """Hand one packet to every subscriber; one that waits for a keyframe skips the rest."""
        self.packets += 1
        for outlet in self.outlets.values():
            if outlet.waiting_for_keyframe:
                if not packet.is_keyframe:
                    outlet.gated += 1
                    self.request_keyframe()
                    continue
                outlet.waiting_for_keyframe = False
            outlet.track.push(packet)

    def attach(self, track_id: str) -> ForwardedTrack:
        """A new subscriber's copy, held back until the next keyframe."""
        track = ForwardedTrack(self.kind, track_id)
        self.outlets[id(track)] = _Outlet(track, waiting_for_keyframe=self.kind == "video")
        self.request_keyframe()
        return track

    def detach(self, track: ForwardedTrack) -> None:
        """Stop handing packets to one copy and end it."""
        if self.outlets.pop(id(track), None) is not None:
            track.push(None)

    def request_keyframe(self) -> None:
        """Forward a subscriber's need for a keyframe to the publisher (throttled)."""
        if self.keyframes is not None:
            self.keyframes.request()

    def end(self) -> None:
        """The publisher's track is gone: end every copy."""
        self.ended = True
        for outlet in self.outlets.values():
            outlet.track.push(None)
        self.outlets.clear()


@dataclass(frozen=True)
class Incoming:
    """A track a publisher sends to the relay, as the engine sees it."""

    mid: str
    kind: str
    fanout: Fanout


@dataclass
class Forwarding:
    """A published track sent on to one subscriber."""

    fanout: Fanout
    track: ForwardedTrack
    _transceiver: Any = None


def _capabilities(codec: RTCRtpCodecParameters, kind: str) -> list[RTCRtpCodecCapability]:
    wanted = [RTCRtpCodecCapability(mimeType=codec.mimeType, clockRate=codec.clockRate)]
    if kind == "video":
        wanted.append(RTCRtpCodecCapability(mimeType="video/rtx", clockRate=codec.clockRate))
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    return [c for c in capabilities if any(_same(c, w) for w in wanted)]


def _same(a: RTCRtpCodecCapability, b: RTCRtpCodecCapability) -> bool:
    return a.mimeType.lower() == b.mimeType.lower() and a.clockRate == b.clockRate


class MediaPeer:
    """A server-side peer connection of the relay: a publisher's (receives) or a
    subscriber's (sends). Session descriptions go in and out as SDP text."""

    def __init__(
        self,
        ice_servers: tuple[IceServerConfig, ...],
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        servers = [
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in ice_servers
        ]
        # An explicit list, even empty: aiortc's default is a public STUN server.
        # One transport for every track: tracks added by a renegotiation need no new ICE.
        config = RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        self._pc = RTCPeerConnection(config)
        self._incoming: list[Incoming] = []
        self._keyframes: list[KeyframeRequests] = []
        self._forwardings: list[Forwarding] = []
        self._on_state = on_state
        self._pc.on("connectionstatechange", self._state_changed)

    @property
    def state(self) -> str:
        """The connection state (`new`, `connecting`, `connected`, `failed`, `closed`)."""
        return str(self._pc.connectionState)

    @property
    def keyframe_requests(self) -> int:
        """PLIs this peer sent to its publisher so far."""
        return sum(k.sent for k in self._keyframes)

    @property
    def incoming(self) -> list[Incoming]:
        """What the remote side publishes, once its offer was answered."""
        return list(self._incoming)

    def _state_changed(self) -> None:
        if self._on_state is not None:
            self._on_state(self.state)

    async def answer(self, offer_sdp: str) -> str:
        """Accept a publisher's offer: every received track is handed on without decoding."""
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in self._pc.getTransceivers():
            if transceiver.mid in {i.mid for i in self._incoming}:
                continue
            codec = self._forwarded_codec(transceiver)
            self._hook(transceiver, codec)
        answer = await self._pc.createAnswer()
        await self._pc.setLocalDescription(answer)
        return str(self._pc.localDescription.sdp)

    def _forwarded_codec(self, transceiver: Any) -> RTCRtpCodecParameters:
        kind = transceiver.kind
        allowed = {m.lower() for m in FORWARDED[kind]}
        codecs: list[RTCRtpCodecParameters] = transceiver._codecs
        primary = next((c for c in codecs if c.mimeType.lower() in allowed), None)
        if primary is None:
            raise ValueError(f"no {kind} codec the relay forwards ({', '.join(FORWARDED[kind])})")
        # Answer with that codec (and its retransmissions) only, so that what arrives is
        # what every subscriber leg is offered.
        transceiver._codecs = [
            c
            for c in codecs
            if c is primary
            or (
                c.mimeType.lower().endswith("/rtx")
                and c.parameters.get("apt") == primary.payloadType
            )
        ]
        return primary

    def _hook(self, transceiver: Any, codec: RTCRtpCodecParameters) -> None:
        receiver: RTCRtpReceiver = transceiver.receiver
        if getattr(receiver, _DECODER_THREAD) is not None:
            raise InternalsChanged("the receiver started decoding before the relay hooked it")
        keyframes = KeyframeRequests(receiver) if transceiver.kind == "video" else None
        fanout = Fanout(transceiver.kind, codec, keyframes)
        if keyframes is not None:
            self._keyframes.append(keyframes)
        setattr(receiver, _DECODER_QUEUE, _PacketQueue(fanout.deliver, fanout.end))
        self._incoming.append(Incoming(str(transceiver.mid), transceiver.kind, fanout))

    def forward(self, fanout: Fanout, track_id: str, stream_id: str) -> Forwarding:
        """Send a published track to this subscriber (negotiated by the next `offer`)."""
        track = fanout.attach(track_id)
        transceiver = self._pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(_capabilities(fanout.codec, fanout.kind))
        sender: RTCRtpSender = transceiver.sender
        sender._stream_id = stream_id  # the publisher's peer id, in the SDP's msid
        # The subscriber's PLI/FIR: the relay cannot encode a keyframe, the publisher can.
        sender._send_keyframe = fanout.request_keyframe  # type: ignore[method-assign]
        forwarding = Forwarding(fanout, track, transceiver)
        self._forwardings.append(forwarding)
        return forwarding

    def unforward(self, forwarding: Forwarding) -> None:
        """Stop sending one track (the m-line goes inactive at the next `offer`)."""
        forwarding.fanout.detach(forwarding.track)
        if forwarding in self._forwardings:
            self._forwardings.remove(forwarding)
        transceiver = forwarding._transceiver
        if transceiver is not None:
            transceiver.direction = "inactive"

    def mid_of(self, forwarding: Forwarding) -> str | None:
        """The m-line the forwarded track went out on, once offered."""
        transceiver = forwarding._transceiver
        return None if transceiver is None or transceiver.mid is None else str(transceiver.mid)

    async def offer(self) -> str:
        """An offer of everything this subscriber is sent now."""
        offer = await self._pc.createOffer()
        await self._pc.setLocalDescription(offer)
        return str(self._pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        """The subscriber's answer to the last offer."""
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    @property
    def awaiting_answer(self) -> bool:
        """An offer went out and was not answered yet."""
        return str(self._pc.signalingState) == "have-local-offer"

    async def close(self) -> None:
        """Close the connection; the copies it sent and the tracks it received end."""
        for forwarding in self._forwardings:
            forwarding.fanout.detach(forwarding.track)
        self._forwardings.clear()
        await self._pc.close()
        for incoming in self._incoming:
            incoming.fanout.end()
        for keyframes in self._keyframes:
            await keyframes.close()
