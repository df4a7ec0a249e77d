"""A mesh call across two server processes: two real `telehealth serve` nodes on one
database and one Redis, the doctor on node B, the patient on node A. Everything one of
them does reaches the other through Redis (python-socketio's Pub/Sub manager) and the
shared database: the waiting list, admission, signals, chat, hands, leaving. Media is
tested elsewhere; this is the signalling."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from telehealth.rooms.models import RoomPresence
from tests.support.processes import DemoApi, Node, Stage, crash_stage
from tests.support.redis_server import private_channel, redis_url
from tests.support.rtc import (
    DEMO_DOCTOR,
    DEMO_DOCTOR_NAME,
    DEMO_PATIENT,
    DEMO_PATIENT_NAME,
    RtcClient,
    book_demo_visit,
)

DOCTOR, DOCTOR_NAME = DEMO_DOCTOR, DEMO_DOCTOR_NAME
PATIENT, PATIENT_NAME = DEMO_PATIENT, DEMO_PATIENT_NAME
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=-\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 9021 2 IN IP4 127.0.0.1\r\ns=-\r\n"}


def candidate(n: int) -> dict[str, Any]:
    """The n-th trickled host candidate."""
    return {
        "candidate": f"candidate:{n} 1 udp 2122260223 192.0.2.{n} {50000 + n} typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }


def api_on(stage: Stage, node: Node) -> DemoApi:
    """The demo users' calls against one node (sign-in tokens are good on every node)."""
    api = DemoApi(stage.http)
    api.base_url = node.base_url
    api.tokens = stage.api.tokens
    return api


async def nodes_of(engine: AsyncEngine, room_id: str) -> dict[str, str]:
    """peer id -> the node its connection is on, from the shared database."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(RoomPresence.peer_id, RoomPresence.node).where(RoomPresence.room_id == room_id)
        )
        return dict(rows.all())


async def room_on_both(a: DemoApi, b: DemoApi, room_id: str, who: str) -> dict[str, Any]:
    """GET the room from both nodes; they must tell the same."""
    seen_a = await a.call("GET", f"/api/v1/rooms/{room_id}", who)
    seen_b = await b.call("GET", f"/api/v1/rooms/{room_id}", who)
    assert seen_a == seen_b
    return dict(seen_a)


def peers(room: dict[str, Any], part: str) -> list[str]:
    """The peer ids of the room's participants or waiting list."""
    return [p["peer_id"] for p in room[part] or []]


async def test_a_mesh_call_across_two_server_processes(backend: str, tmp_path: Path) -> None:
    redis = await redis_url()
    async with (
        asyncio.timeout(420),
        crash_stage(backend, tmp_path, REDIS_URL=redis, REDIS_CHANNEL=private_channel()) as stage,
        stage.serve(NODE_ID="node-a") as node_a,
        stage.serve(NODE_ID="node-b") as node_b,
    ):
        doctor, patient = RtcClient(), RtcClient()
        try:
            await run_call(stage, node_a, node_b, doctor, patient)
        finally:
            await patient.close()
            await doctor.close()
        for node in (node_a, node_b):
            node.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(node.process.wait(), 20) == 0, node.log
            assert "Traceback" not in node.log, node.log


async def run_call(
    stage: Stage, node_a: Node, node_b: Node, doctor: RtcClient, patient: RtcClient
) -> None:
    """Wait, admit, negotiate, chat and leave, each side on its own node."""
    a, b = api_on(stage, node_a), api_on(stage, node_b)
    appt = await book_demo_visit(a)
    room_id = appt["room_id"]

    # The doctor opens the room on node B and waits for the patient there.
    host_grant = await b.call("POST", f"/api/v1/rooms/{room_id}/join", DOCTOR)
    assert host_grant["role"] == "host"
    await doctor.connect(node_b.base_url, host_grant["token"], transport="websocket")
    hello = await doctor.ok("join", {})
    assert (hello["admitted"], hello["peers"], hello["waiting"]) == (True, [], [])
    doctor_peer = hello["peer_id"]

    # The patient arrives on node A (long-polling, as from a weak uplink) and waits.
    grant = await a.call("POST", f"/api/v1/rooms/{room_id}/join", PATIENT)
    assert grant["role"] == "patient"
    await patient.connect(node_a.base_url, grant["token"], transport="polling")
    waiting = await patient.ok("join", {})
    assert (waiting["admitted"], waiting["peers"], waiting["chat"]) == (False, [], [])
    patient_peer = waiting["peer_id"]

    # Node B hears of him through Redis: the doctor's waiting list.
    update = await doctor.next("waiting")
    assert [(w["peer_id"], w["name"], w["role"]) for w in update["waiting"]] == [
        (patient_peer, PATIENT_NAME, "patient")
    ]
    assert await nodes_of(stage.engine, room_id) == {doctor_peer: "node-b", patient_peer: "node-a"}
    room = await room_on_both(a, b, room_id, DOCTOR)
    assert (peers(room, "participants"), peers(room, "waiting")) == ([doctor_peer], [patient_peer])
    assert room["state"] == "open"

    # A peer that waits cannot be signalled, from either side.
    early = await doctor.call("signal", {"to": patient_peer, "type": "offer", "payload": OFFER})
    assert early["ok"] is False
    assert early["error"]["code"] == "not_found"
    refused = await patient.call("chat", {"text": "Chào bác sĩ"})
    assert refused["ok"] is False
    assert refused["error"]["code"] == "forbidden"

    # The doctor on B admits him; A tells him, and he joins again.
    await doctor.ok("admit", {"peer_id": patient_peer})
    assert await patient.next("admitted") == {}
    assert (await doctor.next("waiting"))["waiting"] == []
    inside = await patient.ok("join", {})
    assert inside["admitted"] is True
    assert inside["state"] == "live"
    assert [(p["peer_id"], p["name"], p["role"]) for p in inside["peers"]] == [
        (doctor_peer, DOCTOR_NAME, "host")
    ]
    joined = await doctor.next("peer-joined")
    assert (joined["peer_id"], joined["name"], joined["role"]) == (
        patient_peer,
        PATIENT_NAME,
        "patient",
    )
    assert await doctor.next("room-state") == {"state": "live"}
    assert await patient.next("room-state") == {"state": "live"}
    room = await room_on_both(a, b, room_id, DOCTOR)
    assert sorted(peers(room, "participants")) == sorted([doctor_peer, patient_peer])
    assert (peers(room, "waiting"), room["state"]) == ([], "live")
    seen_by_patient = await room_on_both(a, b, room_id, PATIENT)
    assert seen_by_patient["participants"] == room["participants"]
    assert seen_by_patient["waiting"] is None  # the waiting list is the host's

    # Offer, answer and trickled candidates cross in both directions, in order.
    await doctor.ok("signal", {"to": patient_peer, "type": "offer", "payload": OFFER})
    for n in range(1, 4):
        await doctor.ok(
            "signal", {"to": patient_peer, "type": "candidate", "payload": candidate(n)}
        )
    await doctor.ok("signal", {"to": patient_peer, "type": "candidate", "payload": None})
    assert await patient.next("signal") == {"from": doctor_peer, "type": "offer", "payload": OFFER}
    for n in range(1, 4):
        assert await patient.next("signal") == {
            "from": doctor_peer,
            "type": "candidate",
            "payload": candidate(n),
        }
    assert await patient.next("signal") == {
        "from": doctor_peer,
        "type": "candidate",
        "payload": None,
    }
    await patient.ok("signal", {"to": doctor_peer, "type": "answer", "payload": ANSWER})
    for n in range(4, 6):
        await patient.ok(
            "signal", {"to": doctor_peer, "type": "candidate", "payload": candidate(n)}
        )
    assert await doctor.next("signal") == {
        "from": patient_peer,
        "type": "answer",
        "payload": ANSWER,
    }
    for n in range(4, 6):
        assert (await doctor.next("signal"))["payload"] == candidate(n)

    # Chat and hands, each way; a sender does not get its own message back.
    said = await patient.ok("chat", {"text": "Chào bác sĩ, tôi ho đã hai tuần."})
    heard = await doctor.next("chat")
    assert heard == {
        "message_id": said["message_id"],
        "peer_id": patient_peer,
        "name": PATIENT_NAME,
        "text": "Chào bác sĩ, tôi ho đã hai tuần.",
        "at": said["at"],
    }
    reply = await doctor.ok("chat", {"text": "Anh có sốt không?"})
    answer = await patient.next("chat")
    assert (answer["message_id"], answer["peer_id"], answer["text"]) == (
        reply["message_id"],
        doctor_peer,
        "Anh có sốt không?",
    )
    await patient.ok("hand", {"raised": True})
    assert await doctor.next("hand") == {"peer_id": patient_peer, "raised": True}
    await asyncio.sleep(0.3)  # anything misrouted through Redis would have arrived by now
    assert patient.pending("chat") == patient.pending("hand") == 0
    assert doctor.pending("chat") == doctor.pending("signal") == 0

    # Both nodes keep the same log.
    log_a = await a.call("GET", f"/api/v1/rooms/{room_id}/events", DOCTOR)
    log_b = await b.call("GET", f"/api/v1/rooms/{room_id}/events", PATIENT)
    assert log_a == log_b
    kinds = [e["kind"] for e in log_a["items"]]
    for kind in ("opened", "joined", "admitted", "live", "chat", "hand"):
        assert kind in kinds, kinds
    assert kinds.count("chat") == 2

    # He leaves on A; the doctor on B sees him go, and both nodes agree.
    await patient.ok("leave", {})
    assert await doctor.next("peer-left") == {"peer_id": patient_peer}
    room = await room_on_both(a, b, room_id, DOCTOR)
    assert (peers(room, "participants"), peers(room, "waiting")) == ([doctor_peer], [])
    assert await nodes_of(stage.engine, room_id) == {doctor_peer: "node-b"}
    await patient.close()

    # He comes back through node B (admitted before: no waiting again), then opens the
    # call in another window that lands on node A: the window on B is told, through
    # Redis, that it was replaced and is closed; the doctor sees him reconnect.
    back, again = RtcClient(), RtcClient()
    try:
        grant = await b.call("POST", f"/api/v1/rooms/{room_id}/join", PATIENT)
        await back.connect(node_b.base_url, grant["token"])
        rejoined = await back.ok("join", {})
        assert (rejoined["peer_id"], rejoined["admitted"]) == (patient_peer, True)
        assert [c["message_id"] for c in rejoined["chat"]] == [
            said["message_id"],
            reply["message_id"],
        ]
        assert (await doctor.next("peer-joined"))["peer_id"] == patient_peer
        grant = await a.call("POST", f"/api/v1/rooms/{room_id}/join", PATIENT)
        await again.connect(node_a.base_url, grant["token"], transport="polling")
        assert (await again.ok("join", {}))["admitted"] is True
        assert (await back.next("error"))["code"] == "replaced"
        assert (await doctor.next("peer-reconnected"))["peer_id"] == patient_peer
        await asyncio.wait_for(back.sio.wait(), 10)  # node B closed it
        assert await nodes_of(stage.engine, room_id) == {
            doctor_peer: "node-b",
            patient_peer: "node-a",
        }

        # Signals find him on his new node; then the doctor leaves on B, and he sees it on A.
        await doctor.ok("signal", {"to": patient_peer, "type": "offer", "payload": OFFER})
        assert (await again.next("signal"))["from"] == doctor_peer
        await doctor.ok("leave", {})
        assert await again.next("peer-left") == {"peer_id": doctor_peer}
        room = await room_on_both(a, b, room_id, PATIENT)
        assert peers(room, "participants") == [patient_peer]
        assert await nodes_of(stage.engine, room_id) == {patient_peer: "node-a"}
    finally:
        await again.close()
        await back.close()
