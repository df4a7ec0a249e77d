"""Real Socket.IO clients of `/rtc` for tests, and the REST steps before them."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from typing import Any

import socketio

from telehealth.db.base import utcnow
from tests.support.network import Network
from tests.support.processes import DemoApi
from tests.support.scheduling import free_slots, open_every_day

NAMESPACE = "/rtc"
WAIT = 5.0


async def book_visit(
    net: Network,
    practitioner: str = "doctor_a",
    booker: str = "patient_self",
    patient: str | None = None,
    index: int = 0,
) -> dict[str, Any]:
    """Book one of the practitioner's next slots (within the hour, so its room is open)."""
    pid = await open_every_day(net, practitioner)
    slot = (await free_slots(net, pid))[index]["id"]
    body: dict[str, Any] = {"slot_id": slot, "mode": "video", "reason": "Ho kéo dài"}
    if patient:
        body["patient_id"] = net.patients[patient]
    resp = await net.client.post(
        "/api/v1/appointments", json=body, headers=await net.headers(booker)
    )
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


# The demo network's visit (`telehealth demo`): a district doctor and a patient who
# registered himself.
DEMO_DOCTOR, DEMO_DOCTOR_NAME = "bs.tuan", "Lê Văn Tuấn"
DEMO_PATIENT, DEMO_PATIENT_NAME = "bn.sang", "Lò Văn Sáng"


async def book_demo_visit(api: DemoApi) -> dict[str, Any]:
    """On `serve` processes of the demo network: bs.tuan opens 5-minute slots all day and
    bn.sang books a video visit a few minutes ahead (its room opens an hour before)."""
    me = await api.call("GET", "/api/v1/me", DEMO_DOCTOR)
    rules = [{"weekday": d, "start": "00:00", "end": "23:55", "slot_minutes": 5} for d in range(7)]
    await api.call(
        "PUT",
        f"/api/v1/practitioners/{me['practitioner_id']}/availability",
        DEMO_DOCTOR,
        json={"rules": rules},
    )
    query = {
        "practitioner_id": me["practitioner_id"],
        "from": (utcnow() + timedelta(minutes=2)).isoformat(),
        "limit": "1",
    }
    slots = await api.call("GET", "/api/v1/slots", DEMO_PATIENT, params=query)
    appt = await api.call(
        "POST",
        "/api/v1/appointments",
        DEMO_PATIENT,
        json={"slot_id": slots["items"][0]["id"], "mode": "video", "reason": "Ho kéo dài"},
    )
    return dict(appt)


async def join_grant(net: Network, who: str, room_id: str) -> dict[str, Any]:
    """POST /rooms/{id}/join as `who`; asserts success."""
    resp = await net.client.post(f"/api/v1/rooms/{room_id}/join", headers=await net.headers(who))
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


class RtcClient:
    """A python-socketio client that keeps every server event it receives, by name."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.refusal: Any = None
        self.sio.on("*", self._any, namespace=NAMESPACE)
        self.sio.on("connect_error", self._refused, namespace=NAMESPACE)

    async def _any(self, event: str, data: Any = None) -> None:
        await self.received[event].put(data)

    async def _refused(self, data: Any) -> None:
        self.refusal = data

    async def connect(self, url: str, token: Any, transport: str = "websocket") -> None:
        """Connect to `/rtc` with a join token (raises if refused)."""
        await self.sio.connect(
            url,
            namespaces=[NAMESPACE],
            auth={"token": token} if token is not None else None,
            transports=[transport],
            wait_timeout=WAIT,
        )

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        """Emit and wait for the ack envelope."""
        answer = await self.sio.call(event, data, namespace=NAMESPACE, timeout=WAIT)
        assert isinstance(answer, dict), answer
        return answer

    async def ok(self, event: str, data: Any = None) -> dict[str, Any]:
        """Emit, expect `ok`, return the ack's data."""
        answer = await self.call(event, data)
        assert answer["ok"] is True, answer
        return dict(answer["data"])

    async def next(self, event: str, wait: float = WAIT) -> Any:
        """The next server event of that name."""
        return await asyncio.wait_for(self.received[event].get(), wait)

    def pending(self, event: str) -> int:
        """How many events of that name arrived and were not taken yet."""
        return self.received[event].qsize()

    async def close(self) -> None:
        """Disconnect (no-op if not connected)."""
        if self.sio.connected:
            await self.sio.disconnect()


async def connected(net: Network, who: str, room_id: str) -> tuple[RtcClient, dict[str, Any]]:
    """A party's client, connected with a fresh join grant."""
    grant = await join_grant(net, who, room_id)
    client = RtcClient()
    await client.connect(server_url(net), grant["token"])
    return client, grant


def server_url(net: Network) -> str:
    """The test server's base URL."""
    return f"http://{net.client.host}:{net.client.port}"
