"""What a room acknowledged survives a crash: `telehealth serve` is SIGKILLed right after
a chat message and a client report were acknowledged, and again right after the visit's
outcome was (201); after each restart on the same database it is all there, the outcome
exactly once, and a retry of the outcome with the same Idempotency-Key answers the same."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from telehealth.auth.models import AuditEvent
from telehealth.rooms.models import RoomEvent, RoomOutcome
from tests.support.processes import DemoApi, Stage, crash_stage
from tests.support.rtc import DEMO_DOCTOR, DEMO_PATIENT, RtcClient, book_demo_visit

# The same node id across restarts: a restarted node forgets the presence it left behind.
NODE_ID = "crash-node"
OUTCOME: dict[str, Any] = {
    "summary": "Ho khan 2 tuần, không sốt, phổi không ran.",
    "diagnosis": {"code": "J20.9", "text": "Viêm phế quản cấp"},
    "plan": "Uống nhiều nước, tái khám nếu sốt.",
    "prescriptions": "Paracetamol 500 mg khi sốt > 38.5°C",
    "disposition": "follow_up",
    "follow_up": "Tái khám sau 1 tuần",
}
KEY = "visit-outcome-crash-0001"


async def request(api: DemoApi, method: str, path: str, who: str, **kwargs: Any) -> Any:
    """One authenticated request (signed in through `api`): status and JSON body."""
    await api.call("GET", "/api/v1/me", who)  # signs in once
    headers = {"Authorization": f"Bearer {api.tokens[who]}", **kwargs.pop("headers", {})}
    async with api.http.request(method, f"{api.base_url}{path}", headers=headers, **kwargs) as resp:
        return resp.status, await resp.json()


async def room_log(api: DemoApi, room_id: str) -> list[dict[str, Any]]:
    """The whole event log of the room, through the API, oldest first."""
    items: list[dict[str, Any]] = []
    params = {"limit": "100"}
    while True:
        page = await api.call("GET", f"/api/v1/rooms/{room_id}/events", DEMO_DOCTOR, params=params)
        items.extend(page["items"])
        if not page.get("next"):
            return items
        params = {"limit": "100", "cursor": page["next"]}


async def counts(engine: AsyncEngine, room_id: str) -> tuple[int, int, int]:
    """Outcome rows, `outcome_recorded` events and `room.outcome` audit events of the room,
    straight from the server's database."""
    async with engine.connect() as conn:
        versions = await conn.scalar(
            select(func.count()).select_from(RoomOutcome).where(RoomOutcome.room_id == room_id)
        )
        recorded = await conn.scalar(
            select(func.count())
            .select_from(RoomEvent)
            .where(RoomEvent.room_id == room_id, RoomEvent.kind == "outcome_recorded")
        )
        audited = await conn.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_id == room_id, AuditEvent.action == "room.outcome")
        )
        return int(versions or 0), int(recorded or 0), int(audited or 0)


async def test_acknowledged_chat_reports_and_the_outcome_survive_sigkill(
    backend: str, tmp_path: Path
) -> None:
    async with asyncio.timeout(360), crash_stage(backend, tmp_path, NODE_ID=NODE_ID) as stage:
        await run_scenario(stage)


async def in_the_call(api: DemoApi, base_url: str, room_id: str) -> tuple[RtcClient, RtcClient]:
    """The doctor and the admitted patient, both joined to the room's signalling."""
    doctor, patient = RtcClient(), RtcClient()
    host = await api.call("POST", f"/api/v1/rooms/{room_id}/join", DEMO_DOCTOR)
    await doctor.connect(base_url, host["token"])
    await doctor.ok("join", {})
    grant = await api.call("POST", f"/api/v1/rooms/{room_id}/join", DEMO_PATIENT)
    await patient.connect(base_url, grant["token"])
    peer = (await patient.ok("join", {}))["peer_id"]
    await doctor.ok("admit", {"peer_id": peer})
    await patient.next("admitted")
    assert (await patient.ok("join", {}))["admitted"] is True
    return doctor, patient


async def run_scenario(stage: Stage) -> None:
    """Chat and report, SIGKILL; restart, record the outcome, SIGKILL; restart, check."""
    api, engine = stage.api, stage.engine
    async with stage.serve() as first:
        appt = await book_demo_visit(api)
        room_id = appt["room_id"]
        doctor, patient = await in_the_call(api, first.base_url, room_id)
        try:
            said = await patient.ok("chat", {"text": "Tôi ho đã hai tuần, không sốt."})
            await patient.ok("report", {"kind": "media", "state": "connected"})
            quality = {"kind": "quality", "rtt_ms": 180.0, "loss_pct": 2.5, "bitrate_kbps": 300.0}
            await doctor.ok("report", quality)
            replied = await doctor.ok("chat", {"text": "Anh nghe rõ không?"})
            await first.crash()  # right after the last acknowledgement
        finally:
            await patient.close()
            await doctor.close()

    async with stage.serve() as second:
        log = await room_log(api, room_id)
        chat = [(e["id"], e["details"]["text"]) for e in log if e["kind"] == "chat"]
        assert chat == [
            (said["message_id"], "Tôi ho đã hai tuần, không sốt."),
            (replied["message_id"], "Anh nghe rõ không?"),
        ]
        reports = [(e["kind"], e["details"]) for e in log if e["kind"] in {"media", "quality"}]
        assert reports == [
            ("media", {"state": "connected"}),
            ("quality", {"rtt_ms": 180.0, "loss_pct": 2.5, "bitrate_kbps": 300.0}),
        ]
        # The restarted node let go of the connections the crash cut.
        left = [e["details"]["reason"] for e in log if e["kind"] == "left"]
        assert left == ["node_restarted", "node_restarted"]
        room = await api.call("GET", f"/api/v1/rooms/{room_id}", DEMO_DOCTOR)
        assert (room["state"], room["participants"], room["waiting"]) == ("live", [], [])
        assert await counts(engine, room_id) == (0, 0, 0)

        status, recorded = await request(
            api,
            "POST",
            f"/api/v1/rooms/{room_id}/outcome",
            DEMO_DOCTOR,
            json=OUTCOME,
            headers={"Idempotency-Key": KEY},
        )
        assert status == 201, recorded
        await second.crash()  # right after the 201
    assert recorded["version"] == 1
    assert await counts(engine, room_id) == (1, 1, 1)

    async with stage.serve() as third:
        status, current = await request(
            api, "GET", f"/api/v1/rooms/{room_id}/outcome", DEMO_PATIENT
        )
        assert status == 200, current
        assert current == recorded
        status, again = await request(
            api,
            "POST",
            f"/api/v1/rooms/{room_id}/outcome",
            DEMO_DOCTOR,
            json=OUTCOME,
            headers={"Idempotency-Key": KEY},
        )
        assert status == 200, again
        assert again == recorded
        room = await api.call("GET", f"/api/v1/rooms/{room_id}", DEMO_DOCTOR)
        assert (room["state"], room["outcome_version"]) == ("ended", 1)
        visit = await api.call("GET", f"/api/v1/appointments/{appt['id']}", DEMO_DOCTOR)
        assert visit["status"] == "completed"
        third.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(third.process.wait(), 20) == 0, third.log
        assert "Traceback" not in third.log, third.log
    assert await counts(engine, room_id) == (1, 1, 1)
    kinds = await room_log_from_db(engine, room_id)
    assert kinds.count("outcome_recorded") == 1
    assert kinds.count("chat") == 2


async def room_log_from_db(engine: AsyncEngine, room_id: str) -> list[str]:
    """The kinds of the room's events, straight from the database."""
    async with engine.connect() as conn:
        rows = await conn.scalars(select(RoomEvent.kind).where(RoomEvent.room_id == room_id))
        return list(rows.all())
