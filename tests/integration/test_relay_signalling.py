"""The relay's `/rtc` events with real Socket.IO clients and real relay worker processes:
who may publish where, bad payloads and descriptions answered with stable codes, a
subscription before anyone publishes, and the relay's load on `/metrics`. (Media through
the relay: tests/e2e/test_relay_*.py.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from telehealth.db.base import utcnow
from tests.support.consults import act, file_consult
from tests.support.network import Network
from tests.support.rtc import NAMESPACE, book_visit, connected

# An offer the relay cannot forward: audio in PCMU only (it forwards VP8 and Opus).
PCMU_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\na=sendonly\r\n"
    "a=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\na=ice-ufrag:abcd\r\n"
    "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
)


async def _consult_room(net: Network) -> str:
    cid = (await file_consult(net))["id"]
    assert (await act(net, "specialist", cid, "accept")).status == 200
    start = (utcnow() + timedelta(minutes=30)).isoformat()
    scheduled = await act(net, "specialist", cid, "schedule", {"start": start})
    return str((await scheduled.json())["room_id"])


def _code(answer: dict[str, Any]) -> str:
    assert answer["ok"] is False, answer
    return str(answer["error"]["code"])


async def test_relay_events_in_a_consult_room(network: Network) -> None:
    room_id = await _consult_room(network)
    doctor, _ = await connected(network, "doctor_a", room_id)
    specialist, _ = await connected(network, "specialist", room_id)
    try:
        assert _code(await doctor.call("publish", {"type": "offer", "sdp": "v=0"})) == (
            "invalid_transition"  # before join
        )
        await doctor.ok("join")
        await specialist.ok("join")
        bad = [
            None,
            {"type": "answer", "sdp": "v=0"},
            {"type": "offer", "sdp": ""},
            {"type": "offer", "sdp": "v=0", "extra": 1},
            {"type": "offer", "sdp": 5},
        ]
        for payload in bad:
            assert _code(await doctor.call("publish", payload)) == "validation_error", payload
        huge = {"type": "offer", "sdp": "v" * (64 * 1024 + 1)}
        assert _code(await doctor.call("publish", huge)) == "payload_too_large"
        assert _code(await doctor.call("subscribe", {"x": 1})) == "validation_error"

        # Nobody publishes yet: no offer, no tracks (a `renegotiate` offer comes later). The
        # node's first relay request waits for its workers to start (seconds on a busy box).
        first = await specialist.sio.call("subscribe", {}, namespace=NAMESPACE, timeout=90)
        assert first == {"ok": True, "data": {"sdp": None, "type": None, "tracks": []}}
        answer = {"type": "answer", "sdp": "v=0"}
        assert _code(await specialist.call("subscribe-answer", answer)) == "invalid_transition"
        assert _code(await specialist.call("renegotiate", answer)) == "invalid_transition"

        refused = await doctor.call("publish", {"type": "offer", "sdp": PCMU_OFFER})
        assert _code(refused) == "unsupported_media", refused
        assert await doctor.ok("unpublish") == {}

        metrics = await (await network.client.get("/metrics")).text()
        assert 'telehealth_relay_peers{worker="0"} 1.0' in metrics, metrics[-2000:]
        assert 'telehealth_relay_forwarded_streams{worker="0"} 0.0' in metrics
        assert await specialist.ok("leave") == {}
        metrics = await (await network.client.get("/metrics")).text()
        assert 'telehealth_relay_peers{worker="0"} 0.0' in metrics
    finally:
        await doctor.close()
        await specialist.close()


async def test_relay_events_are_refused_in_a_visit_and_to_a_waiting_patient(
    network: Network,
) -> None:
    appt = await book_visit(network)
    host, _ = await connected(network, "doctor_a", appt["room_id"])
    patient, _ = await connected(network, "patient_self", appt["room_id"])
    offer = {"type": "offer", "sdp": PCMU_OFFER}
    try:
        await host.ok("join")
        assert (await patient.ok("join"))["admitted"] is False
        # Not admitted: a stranger to the room's media.
        assert _code(await patient.call("publish", offer)) == "forbidden"
        assert _code(await patient.call("subscribe", {})) == "forbidden"
        # A visit's media goes peer to peer.
        assert _code(await host.call("publish", offer)) == "invalid_transition"
        assert _code(await host.call("subscribe", {})) == "invalid_transition"
    finally:
        await host.close()
        await patient.close()
