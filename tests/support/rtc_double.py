"""A stand-in for the live-room server side, speaking docs/rtc.md, for testing the call page
before (and independently of) telehealth/rooms and telehealth/signalling: `POST join`,
`POST outcome` and the `/rtc` namespace (join, admit, waiting, signal relay, chat, hand,
report, leave), all in memory, for one visit room between a host and a patient.

It is attached to a real app (`attach(app)`), so the page, sign-in and static files are the
real ones; only the room's server side is simulated. It checks what the page sends as the
real server would (envelope, event order, payload shape) and records it for assertions.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import socketio
from aiohttp import web

from telehealth import keys
from telehealth.accounts.models import Role

NAMESPACE = "/rtc"
CLINICIANS = (Role.DOCTOR, Role.SPECIALIST)


def ok(data: Any = None) -> dict[str, Any]:
    """The success envelope."""
    return {"ok": True, "data": {} if data is None else data}


def error(code: str, detail: str) -> dict[str, Any]:
    """The failure envelope."""
    return {"ok": False, "error": {"code": code, "detail": detail}}


@dataclass
class Peer:
    """One party's connection to the room."""

    peer_id: str
    user_id: str
    name: str
    role: str
    sid: str | None = None
    admitted: bool = False
    since: str = ""

    def public(self) -> dict[str, str]:
        """What others see of the peer."""
        return {
            "peer_id": self.peer_id,
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role,
        }


@dataclass
class RoomDouble:
    """The in-memory room and what the pages sent to it."""

    room_id: str
    state: str = "open"
    tokens: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    peers: dict[str, Peer] = field(default_factory=dict)
    by_sid: dict[str, Peer] = field(default_factory=dict)
    chat: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    signals: list[tuple[str, str, str]] = field(default_factory=list)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def waiting(self) -> list[dict[str, str]]:
        """The waiting list as the host gets it."""
        return [
            {"peer_id": p.peer_id, "name": p.name, "role": p.role, "since": p.since}
            for p in self.peers.values()
            if not p.admitted and p.sid
        ]

    def others(self, me: Peer) -> list[dict[str, str]]:
        """Admitted, connected peers other than `me`."""
        return [p.public() for p in self.peers.values() if p is not me and p.admitted and p.sid]


def attach(app: web.Application, room_id: str) -> RoomDouble:
    """Add the room's REST endpoints and the /rtc namespace to `app` (before it starts)."""
    room = RoomDouble(room_id)
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=[], async_handlers=False)
    sio.register_namespace(_Namespace(room, sio))
    sio.attach(app)
    app.router.add_post("/api/v1/rooms/{room_id}/join", _join_view(room))
    app.router.add_post("/api/v1/rooms/{room_id}/outcome", _outcome_view(room, sio))
    return room


def _join_view(room: RoomDouble) -> Any:
    async def join(request: web.Request) -> web.Response:
        principal = request.get(keys.PRINCIPAL)
        if principal is None:
            return web.json_response({"code": "unauthenticated"}, status=401)
        if request.match_info["room_id"] != room.room_id:
            return web.json_response({"code": "not_found"}, status=404)
        if room.state == "ended":
            return web.json_response({"code": "room_ended"}, status=409)
        role = "host" if principal.has(*CLINICIANS) else "patient"
        token = secrets.token_urlsafe(16)
        room.tokens[token] = (principal.user_id, principal.full_name, role)
        expires = datetime.now(UTC) + timedelta(minutes=10)
        return web.json_response(
            {
                "room_id": room.room_id,
                "token": token,
                "expires_at": expires.isoformat(),
                "signalling_url": f"{request.scheme}://{request.host}",
                "namespace": NAMESPACE,
                "path": "/socket.io",
                "mode": "mesh",
                "role": role,
                "state": room.state,
                "ice_servers": [],
            }
        )

    return join


def _outcome_view(room: RoomDouble, sio: socketio.AsyncServer) -> Any:
    async def outcome(request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        body = await request.json()
        if key in room.outcomes:
            return web.json_response(room.outcomes[key], status=201)
        if room.outcomes:
            return web.json_response({"code": "outcome_exists"}, status=409)
        room.outcomes[key] = {"room_id": room.room_id, **body}
        room.state = "ended"
        await sio.emit("room-state", {"state": "ended"}, namespace=NAMESPACE, room=room.room_id)
        return web.json_response(room.outcomes[key], status=201)

    return outcome


class _Namespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, room: RoomDouble, sio: socketio.AsyncServer) -> None:
        super().__init__(NAMESPACE)
        self.room = room
        self.sio = sio

    async def on_connect(self, sid: str, environ: Any, auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if token not in self.room.tokens:
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": "invalid_token", "detail": "unknown token"}
            )
        user_id, name, role = self.room.tokens[token]
        peer = self.room.peers.get(user_id)
        if peer is None:
            peer = Peer(user_id, user_id, name, role, admitted=role == "host")
            self.room.peers[user_id] = peer
        peer.sid = sid
        peer.since = datetime.now(UTC).isoformat()
        self.room.by_sid[sid] = peer

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        peer = self.room.by_sid.pop(sid, None)
        if peer is not None and peer.sid == sid:
            peer.sid = None
            await self._to_others(peer, "peer-left", {"peer_id": peer.peer_id})
            await self._tell_host()

    async def trigger_event(self, event: str, *args: Any) -> Any:
        sid = args[0]
        if event in {"connect", "disconnect"}:
            return await super().trigger_event(event, *args)
        peer = self.room.by_sid.get(sid)
        payload = args[1] if len(args) > 1 else None
        if peer is None:
            return error("invalid_transition", "not connected")
        if not isinstance(payload, dict):
            self.room.problems.append(f"{event}: payload is not an object")
            return error("validation_error", "payload must be an object")
        handler = getattr(self, "event_" + event.replace("-", "_"), None)
        if handler is None:
            self.room.problems.append(f"unknown event {event}")
            return error("validation_error", f"unknown event {event}")
        return await handler(peer, payload)

    async def event_join(self, peer: Peer, payload: dict[str, Any]) -> dict[str, Any]:
        await self.enter_room(peer.sid, self.room.room_id)
        if peer.admitted and peer.role == "host":
            await self._to_others(peer, "peer-joined", peer.public())
        await self._tell_host()
        data: dict[str, Any] = {
            "peer_id": peer.peer_id,
            "role": peer.role,
            "admitted": peer.admitted,
            "peers": self.room.others(peer) if peer.admitted else [],
            "chat": self.room.chat[-50:],
            "mode": "mesh",
            "state": self.room.state,
            "host_present": any(
                p.role == "host" and p.sid is not None for p in self.room.peers.values()
            ),
        }
        if peer.role == "host":
            data["waiting"] = self.room.waiting()
        return ok(data)

    async def event_admit(self, peer: Peer, payload: dict[str, Any]) -> dict[str, Any]:
        if peer.role != "host":
            return error("forbidden", "host only")
        target = self.room.peers.get(str(payload.get("peer_id")))
        if target is None or target.sid is None:
            return error("not_found", "no such peer")
        target.admitted = True
        self.room.state = "live"
        # As the real server: the admitted peer sends `join` again to get the peers.
        await self.emit("admitted", {}, to=target.sid)
        await self._to_others(target, "peer-joined", target.public())
        await self._tell_host()
        return ok()

    async def event_signal(self, peer: Peer, payload: dict[str, Any]) -> dict[str, Any]:
        target = self.room.peers.get(str(payload.get("to")))
        kind = payload.get("type")
        if kind not in {"offer", "answer", "candidate"} or not isinstance(
            payload.get("payload"), dict
        ):
            self.room.problems.append(f"bad signal {payload!r}"[:300])
            return error("validation_error", "bad signal")
        if not peer.admitted or target is None or not target.admitted or target.sid is None:
            return error("not_found", "no such peer")
        self.room.signals.append((peer.peer_id, target.peer_id, str(kind)))
        message = {"from": peer.peer_id, "type": kind, "payload": payload["payload"]}
        await self.emit("signal", message, to=target.sid)
        return ok()

    async def event_chat(self, peer: Peer, payload: dict[str, Any]) -> dict[str, Any]:
        text = payload.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 2000:
            return error("validation_error", "text")
        message = {
            "message_id": secrets.token_hex(8),
            "peer_id": peer.peer_id,
            "name": peer.name,
            "text": text,
            "at": datetime.now(UTC).isoformat(),
        }
        self.room.chat.append(message)
        await self._to_others(peer, "chat", message)
        return ok({"message_id": message["message_id"], "at": message["at"]})

    async def event_hand(self, peer: Peer, payload: dict[str, Any]) -> dict[str, Any]:
        raised = bool(payload.get("raised"))
        await self._to_others(peer, "hand", {"peer_id": peer.peer_id, "raised": raised})
        return ok()

    async def event_report(self, peer: Peer, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("kind") not in {"media", "ice", "quality", "audio_only"}:
            self.room.problems.append(f"bad report {payload!r}"[:300])
            return error("validation_error", "kind")
        self.room.reports.append({"peer_id": peer.peer_id, **payload})
        return ok()

    async def event_leave(self, peer: Peer, payload: dict[str, Any]) -> dict[str, Any]:
        await self._to_others(peer, "peer-left", {"peer_id": peer.peer_id})
        return ok()

    async def _to_others(self, peer: Peer, event: str, data: Any) -> None:
        for other in self.room.peers.values():
            if other is not peer and other.sid and (other.admitted or event == "room-state"):
                await self.emit(event, data, to=other.sid)

    async def _tell_host(self) -> None:
        for host in self.room.peers.values():
            if host.role == "host" and host.sid:
                await self.emit("waiting", {"waiting": self.room.waiting()}, to=host.sid)
