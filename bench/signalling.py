"""Signalling over `/rtc`: relay latency and server CPU per relayed message, and server
memory per idle connection, each beside a bare WebSocket relay measured in the same run.

    python bench/signalling.py --pairs 20 --rate 5 --size 200 --seconds 20 --idle 1000,5000

A fresh database (a temporary SQLite file, or a new PostgreSQL database dropped afterwards)
is migrated and seeded through the app's services: one doctor, one patient per pair, and a
video visit per pair booked by its patient; both parties get their join grant from the
room service (the server's `POST /rooms/{id}/join`), so each pair is the host and the
patient of one visit room. Rooms open early enough (`TELEHEALTH_ROOM_OPENS_BEFORE_MINUTES`)
for tomorrow's slots to be joined today.

Relay: `python -m telehealth serve` and `bench/support_signalling_baseline.py` (a bare
aiohttp WebSocket relay: say room and peer, then frames addressed to a peer id go to that
peer's socket) run side by side on free loopback ports. Every pair connects to both: on
`/rtc` the host joins, the patient joins and waits, the host admits it and it joins again.
Then the host of each pair sends `signal` candidates to its patient at `--rate` a second
(open loop, the pairs' send times spread over the period), each carrying a `--size`
character candidate string; the latency of one message is the time from just before the
client encodes and writes its frame to the moment the other client of the pair reads the relayed
`signal`, both in this process (`time.perf_counter`). Each signal asks for its ack (the
protocol's envelope; `--no-acks` turns acks off on both servers). The load alternates
between the servers in `--rounds` rounds (the server going first alternating), after a
warm-up of each; a server's CPU time (user + system, from `/proc/<pid>/stat`) is read
before a round and after its messages have arrived, and divided by the messages relayed.

Idle connections: each server is started afresh; `--idle-warmup` connections are opened
first, then the server's RSS (`VmRSS` in `/proc/<pid>/status`) is read, connections are
added up to each level of `--idle` (1000 and 5000 by default, beyond the warm-up) and the
RSS growth is divided by that level. An idle `/rtc` connection is connected to the
namespace with a valid join token (a fresh token for one of the seeded parties: several
connections of one party may connect, only `join` takes over) and never joins; a
baseline one has said its room and peer. Both answer their server's pings.

Both kinds of client are raw aiohttp WebSockets in this process (engine.io v4 and
Socket.IO v5 framing for `/rtc`, plain JSON for the baseline), so the client side costs
about the same for both servers. Loopback only; every phase is bounded by its count and
by time; the servers are stopped (SIGINT, then SIGKILL) even after a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web
from booking import fresh_database, machine_note
from consults import code_note
from procs import LOOPBACK, ServerProcess, free_port, start_server, stop_server
from seeding import FAST_PASSWORDS, PASSWORD, seed

from telehealth import keys
from telehealth.app import create_app
from telehealth.auth.audit import AuditContext
from telehealth.config import RoomSettings, Settings
from telehealth.rooms.schemas import JoinOut
from telehealth.rooms.tokens import JoinClaims, JoinTokens
from telehealth.scheduling.models import VisitMode
from telehealth.scheduling.schemas import AppointmentCreate

BENCH_DIR: Final = Path(__file__).resolve().parent
DEFAULT_PG: Final = "postgresql://postgres@127.0.0.1:5432/test"
SECRET: Final = "bench-secret-key-not-for-production"
SEED: Final = AuditContext(client_address="bench")
NAMESPACE: Final = "/rtc"
OPENS_BEFORE_MINUTES: Final = 30 * 24 * 60  # tomorrow's rooms are open today
TOKEN_SECONDS: Final = 3600
NODE_ID: Final = "bench-node"
REASON: Final = "Ho kéo dài hai tuần"
SERVERS: Final = ("telehealth", "baseline")
CALL_TIMEOUT: Final = 15.0  # one ack, one connect
DRAIN_SECONDS: Final = 5.0  # after a round, how long its last messages may take
CONNECT_AT_ONCE: Final = 32  # idle connections being opened at the same time
SETUP_AT_ONCE: Final = 8  # pairs joining at the same time
FD_MARGIN: Final = 200  # descriptors kept free for everything else
# The rate limit of /rtc (telehealth/signalling/limits.py) is 20 events a second sustained.
MAX_RATE: Final = 18.0


# -- the seeded rooms -----------------------------------------------------------------------


@dataclass(frozen=True)
class Seat:
    """One party of one room: its ids there and a join token."""

    room_id: str
    peer_id: str
    user_id: str
    role: str
    token: str

    def fresh_token(self, tokens: JoinTokens) -> str:
        """Another valid token for the same party (as a second tab would get)."""
        expires = datetime.now(UTC) + timedelta(seconds=TOKEN_SECONDS)
        claims = JoinClaims(self.user_id, self.room_id, self.role, self.peer_id, expires)
        return tokens.issue(claims)


@dataclass(frozen=True)
class Pair:
    """The host and the patient of one visit room."""

    host: Seat
    patient: Seat


async def seed_rooms(url: str, work: Path, pairs: int) -> list[Pair]:
    """A doctor, one patient per pair, a video visit per patient, and both parties' join
    grants, through the app's services; the app is closed before the servers start."""
    seeded = await seed(url, patients=pairs, slots=pairs)
    runner = web.AppRunner(create_app(bench_settings(url, work)))
    await runner.setup()  # runs the cleanup_ctx startups: engine and services
    try:
        app = runner.app
        doctor = await app[keys.AUTH].sign_in(SEED, "bench-doctor", PASSWORD, "bearer", None)
        out: list[Pair] = []
        for patient, slot in zip(seeded.patients, seeded.slots, strict=True):
            principal = await app[keys.AUTH].resolve(patient.token, "bearer")
            assert principal is not None, "a seeded patient's token did not resolve"
            appt = await app[keys.APPOINTMENTS].book(
                principal,
                SEED,
                AppointmentCreate(
                    slot_id=seeded.slot_id(slot), mode=VisitMode.VIDEO, reason=REASON
                ),
            )
            assert appt.room_id is not None
            host = await app[keys.ROOMS].join(doctor.principal, SEED, appt.room_id)
            guest = await app[keys.ROOMS].join(principal, SEED, appt.room_id)
            out.append(Pair(_seat(host, doctor.principal.user_id), _seat(guest, principal.user_id)))
        return out
    finally:
        await runner.cleanup()


def _seat(grant: JoinOut, user_id: str) -> Seat:
    return Seat(grant.room_id, grant.peer_id, user_id, grant.role.value, grant.token)


def bench_settings(url: str, work: Path) -> Settings:
    """The settings the in-process seeding app uses (the server gets the same by env)."""
    return Settings(
        database_url=url,
        data_dir=work / "data",
        secret_key=SECRET,
        passwords=FAST_PASSWORDS,
        rooms=RoomSettings(
            opens_before=timedelta(minutes=OPENS_BEFORE_MINUTES),
            join_token_lifetime=timedelta(seconds=TOKEN_SECONDS),
            node_id=NODE_ID,
        ),
    )


def server_env(url: str, work: Path) -> dict[str, str]:
    """The telehealth server's environment: the bench database, secret and room timing."""
    data_dir = work / "data"
    data_dir.mkdir(exist_ok=True)
    return {
        "TELEHEALTH_DATABASE_URL": url,
        "TELEHEALTH_DATA_DIR": str(data_dir),
        "TELEHEALTH_SECRET_KEY": SECRET,
        "TELEHEALTH_OUTBOX_ENABLED": "false",
        "TELEHEALTH_ROOM_OPENS_BEFORE_MINUTES": str(OPENS_BEFORE_MINUTES),
        "TELEHEALTH_JOIN_TOKEN_SECONDS": str(TOKEN_SECONDS),
        "TELEHEALTH_NODE_ID": NODE_ID,
    }


# -- raw WebSocket clients ------------------------------------------------------------------

SignalSink = Callable[[dict[str, Any], float], None]
FailureSink = Callable[[str], None]


class Refused(Exception):
    """The server refused a connection or answered an event with an error."""


class Wire:
    """One raw WebSocket client of either server: a reader task that answers pings, hands
    relayed signals to `on_signal` (with the time they were read) and resolves acks."""

    def __init__(self, on_signal: SignalSink | None = None) -> None:
        self.on_signal = on_signal
        self.on_failure: FailureSink | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._next_id = 0
        self._calls: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._signal_acks: set[int] = set()
        self._events: dict[str, asyncio.Queue[Any]] = {}

    @property
    def alive(self) -> bool:
        """Connected and still reading."""
        return (
            self.ws is not None
            and not self.ws.closed
            and self._reader is not None
            and (not self._reader.done())
        )

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _start_reader(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="bench-wire")

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await self._frame(msg.data, time.perf_counter())
            elif msg.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR}:
                break
        for fut in self._calls.values():
            if not fut.done():
                fut.set_exception(Refused("the connection closed"))

    async def _frame(self, data: str, at: float) -> None:
        raise NotImplementedError

    def _event(self, name: str, data: Any, at: float) -> None:
        if name == "signal" and self.on_signal is not None:
            self.on_signal(data, at)
        else:
            self._events.setdefault(name, asyncio.Queue()).put_nowait(data)

    def _acked(self, ack_id: int, envelope: dict[str, Any]) -> None:
        fut = self._calls.pop(ack_id, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(envelope)
        elif ack_id in self._signal_acks:
            self._signal_acks.discard(ack_id)
            if not envelope.get("ok") and self.on_failure is not None:
                self.on_failure(str(envelope.get("error", {}).get("code", "unknown")))

    async def _await_ack(self, ack_id: int, frame: str) -> dict[str, Any]:
        assert self.ws is not None
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[ack_id] = fut
        await self.ws.send_str(frame)
        try:
            return await asyncio.wait_for(fut, CALL_TIMEOUT)
        finally:
            self._calls.pop(ack_id, None)

    async def next_event(self, name: str) -> Any:
        """The next server event of that name (not `signal`)."""
        queue = self._events.setdefault(name, asyncio.Queue())
        return await asyncio.wait_for(queue.get(), CALL_TIMEOUT)

    async def signal(self, to: str, payload: dict[str, Any], ack: bool) -> None:
        """Send one `signal` to peer `to`."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the socket (politely) and stop reading."""
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5.0)
        await self.stop_reading()

    async def stop_reading(self) -> None:
        """Stop the reader task (the socket stays as it is)."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


class RtcWire(Wire):
    """`/rtc` over engine.io v4's WebSocket transport: `0{open}`, then `40/rtc,{auth}` /
    `40/rtc,{sid}` to connect the namespace, `42/rtc,<id>[event, data]` events with an ack
    id answered by `43/rtc,<id>[envelope]`, and the server's ping `2` answered with `3`."""

    PREFIX: Final = NAMESPACE + ","

    async def connect(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        """Open the socket and connect the namespace with `token`; `Refused` if refused."""
        url = f"{base_url}/socket.io/?EIO=4&transport=websocket"
        self.ws = ws = await session.ws_connect(url, autoping=True, heartbeat=None)
        opened = await ws.receive_str(timeout=CALL_TIMEOUT)
        if not opened.startswith("0"):
            raise Refused(f"not an engine.io open packet: {opened[:80]}")
        await ws.send_str("40" + self.PREFIX + json.dumps({"token": token}))
        while True:
            packet = await ws.receive_str(timeout=CALL_TIMEOUT)
            if packet == "2":
                await ws.send_str("3")
            elif packet.startswith("40" + self.PREFIX):
                break
            elif packet.startswith("44" + self.PREFIX):
                raise Refused(packet[len(self.PREFIX) + 2 :])
            else:
                raise Refused(f"unexpected packet while connecting: {packet[:80]}")
        self._start_reader()

    async def _frame(self, data: str, at: float) -> None:
        if data == "2":
            assert self.ws is not None
            await self.ws.send_str("3")
            return
        kind, rest = data[:2], data[2 + len(self.PREFIX) :]
        if kind == "42" and data[2:].startswith(self.PREFIX):
            name, *args = json.loads(rest)
            self._event(name, args[0] if args else None, at)
        elif kind == "43" and data[2:].startswith(self.PREFIX):
            bracket = rest.index("[")
            self._acked(int(rest[:bracket]), json.loads(rest[bracket:])[0])
        elif kind == "41":
            self._event("disconnected", None, at)

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        """Emit an event and return its ack's data; `Refused` if the envelope is not ok."""
        ack_id = self._take_id()
        frame = f"42{self.PREFIX}{ack_id}{json.dumps([event, {} if data is None else data])}"
        envelope = await self._await_ack(ack_id, frame)
        if not envelope.get("ok"):
            raise Refused(f"{event}: {envelope.get('error')}")
        return dict(envelope["data"])

    async def signal(self, to: str, payload: dict[str, Any], ack: bool) -> None:
        """Send one `signal` candidate to peer `to`, asking for its ack or not."""
        assert self.ws is not None
        body = json.dumps(["signal", {"to": to, "type": "candidate", "payload": payload}])
        if ack:
            ack_id = self._take_id()
            self._signal_acks.add(ack_id)
            await self.ws.send_str(f"42{self.PREFIX}{ack_id}{body}")
        else:
            await self.ws.send_str(f"42{self.PREFIX}{body}")


class BaseWire(Wire):
    """The baseline relay's client: a hello naming room and peer, then JSON frames."""

    async def connect(
        self, session: aiohttp.ClientSession, base_url: str, room_id: str, peer_id: str
    ) -> None:
        """Open the socket and say who this is (acknowledged by the server)."""
        self.ws = await session.ws_connect(f"{base_url}/ws", autoping=True, heartbeat=None)
        self._start_reader()
        ack_id = self._take_id()
        hello = json.dumps({"room": room_id, "peer": peer_id, "id": ack_id})
        await self._await_ack(ack_id, hello)

    async def _frame(self, data: str, at: float) -> None:
        message = json.loads(data)
        if "ack" in message:
            self._acked(int(message["ack"]), {"ok": True, "data": {}})
        else:
            self._event("signal", message, at)

    async def signal(self, to: str, payload: dict[str, Any], ack: bool) -> None:
        """Send one candidate to peer `to`, asking for an ack or not."""
        assert self.ws is not None
        message: dict[str, Any] = {"to": to, "type": "candidate", "payload": payload}
        if ack:
            message["id"] = ack_id = self._take_id()
            self._signal_acks.add(ack_id)
        await self.ws.send_str(json.dumps(message))


def client_session() -> aiohttp.ClientSession:
    """One session for many sockets: no connection limit."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


# -- relay ----------------------------------------------------------------------------------


@dataclass
class RelayResult:
    """What one server relayed in its measured rounds, added up."""

    sent: int = 0
    received: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # error acks by code
    lost: int = 0  # sent, not refused, not received within the drain time
    latencies: list[float] = field(default_factory=list)  # seconds
    elapsed: float = 0.0  # sending time
    server_cpu: float | None = 0.0
    loads: list[float] = field(default_factory=list)  # 1-minute load average at each round

    @property
    def per_second(self) -> float:
        """Messages relayed per second of sending time."""
        return self.received / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_us(self) -> float:
        """Server CPU per relayed message, in microseconds (NaN if unknown)."""
        if self.server_cpu is None or not self.received:
            return math.nan
        return self.server_cpu / self.received * 1e6

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds (NaN if none)."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1] * 1000


class Relay:
    """The messages of one server's pairs in flight; receipts go to the current result."""

    def __init__(self) -> None:
        self.sent_at: dict[int, float] = {}
        self.seq = 0
        self.result = RelayResult()
        self.stray = 0  # receipts of nothing in flight (late ones from an earlier round)
        self._settled = asyncio.Event()

    def on_signal(self, data: dict[str, Any], at: float) -> None:
        """A pair's receiver read a relayed candidate at `at`."""
        candidate = str(data["payload"]["candidate"])
        seq = int(candidate.split(" ", 1)[0].removeprefix("candidate:"))
        sent = self.sent_at.pop(seq, None)
        if sent is None:
            self.stray += 1
            return
        self.result.received += 1
        self.result.latencies.append(at - sent)
        if self.pending <= 0:
            self._settled.set()

    def on_failure(self, code: str) -> None:
        """The server refused one signal (its ack said so)."""
        self.result.failures[code] += 1
        if self.pending <= 0:
            self._settled.set()

    async def drained(self, seconds: float) -> None:
        """Wait until every message sent was received or refused, at most `seconds`."""
        self._settled.clear()
        if self.pending > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), seconds)

    @property
    def pending(self) -> int:
        """Messages of the current result neither received nor refused."""
        r = self.result
        return r.sent - r.received - sum(r.failures.values())


def candidate(seq: int, size: int) -> dict[str, Any]:
    """An RTCIceCandidateInit whose candidate string is `size` characters and starts with
    the message's sequence number as its foundation."""
    head = f"candidate:{seq} 1 udp 2122260223 192.0.2.10 {50000 + seq % 10000} typ host"
    tail = " generation 0 ufrag "
    text = head + tail
    text += "x" * max(0, size - len(text))
    return {"candidate": text[: max(size, len(head))], "sdpMid": "0", "sdpMLineIndex": 0}


@dataclass
class Party:
    """One server's clients of one pair: the sender (host) and receiver (patient)."""

    sender: Wire
    receiver: Wire
    to: str  # the receiver's peer id


async def connect_pairs(
    name: str,
    process: ServerProcess,
    session: aiohttp.ClientSession,
    pairs: list[Pair],
    relay: Relay,
) -> list[Party]:
    """Connect every pair to one server and bring both sides in (join, admit, join)."""
    gate = asyncio.Semaphore(SETUP_AT_ONCE)

    async def one(pair: Pair) -> Party:
        async with gate:
            if name == "telehealth":
                return await _rtc_pair(process.base_url, session, pair, relay)
            return await _base_pair(process.base_url, session, pair, relay)

    return list(await asyncio.gather(*(one(p) for p in pairs)))


async def _rtc_pair(base: str, session: aiohttp.ClientSession, pair: Pair, relay: Relay) -> Party:
    host, patient = RtcWire(), RtcWire(relay.on_signal)
    host.on_failure = relay.on_failure
    await host.connect(session, base, pair.host.token)
    joined = await host.call("join")
    assert joined["admitted"], joined
    await patient.connect(session, base, pair.patient.token)
    waiting = await patient.call("join")
    assert not waiting["admitted"], waiting
    await host.call("admit", {"peer_id": pair.patient.peer_id})
    await patient.next_event("admitted")
    again = await patient.call("join")
    assert again["admitted"], again
    assert again["peers"], again
    return Party(host, patient, pair.patient.peer_id)


async def _base_pair(base: str, session: aiohttp.ClientSession, pair: Pair, relay: Relay) -> Party:
    host, patient = BaseWire(), BaseWire(relay.on_signal)
    host.on_failure = relay.on_failure
    await host.connect(session, base, pair.host.room_id, pair.host.peer_id)
    await patient.connect(session, base, pair.patient.room_id, pair.patient.peer_id)
    return Party(host, patient, pair.patient.peer_id)


async def run_round(
    process: ServerProcess,
    parties: list[Party],
    relay: Relay,
    seconds: float,
    args: argparse.Namespace,
    result: RelayResult,
) -> None:
    """Every pair's host sends at `--rate` for `seconds`; wait for the last receipts; add
    messages, latencies and the server's CPU time to `result`."""
    relay.result = result
    result.loads.append(os.getloadavg()[0])
    cpu_before = process.cpu_seconds()
    period = 1.0 / args.rate
    started = time.perf_counter()
    stop_at = started + seconds

    async def sender(n: int, party: Party) -> None:
        next_at = started + period * n / len(parties)  # the pairs spread over one period
        while next_at < stop_at:
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            relay.seq += 1
            payload = candidate(relay.seq, args.size)
            relay.sent_at[relay.seq] = time.perf_counter()
            result.sent += 1
            await party.sender.signal(party.to, payload, args.acks)
            next_at += period

    await asyncio.gather(*(sender(n, p) for n, p in enumerate(parties)))
    result.elapsed += time.perf_counter() - started
    await relay.drained(DRAIN_SECONDS)
    cpu_after = process.cpu_seconds()
    result.lost += relay.pending
    relay.sent_at.clear()
    if result.server_cpu is not None and cpu_before is not None and cpu_after is not None:
        result.server_cpu += cpu_after - cpu_before
    else:
        result.server_cpu = None


async def measure_relay(
    backend: str, url: str, work: Path, pairs: list[Pair], args: argparse.Namespace
) -> dict[str, RelayResult]:
    """Both servers at once, every pair connected to both; warm-up, then interleaved rounds."""
    processes = await start_servers(backend, url, work, args, "relay")
    relays = {name: Relay() for name in SERVERS}
    try:
        async with client_session() as session:
            parties: dict[str, list[Party]] = {}
            for name in SERVERS:
                started = time.perf_counter()
                parties[name] = await connect_pairs(
                    name, processes[name], session, pairs, relays[name]
                )
                print(
                    f"[relay] {name}: {len(pairs)} pairs connected and admitted in "
                    f"{time.perf_counter() - started:.1f} s"
                )
            try:
                if args.warmup > 0:
                    for name in SERVERS:
                        warm = RelayResult()
                        await run_round(
                            processes[name], parties[name], relays[name], args.warmup, args, warm
                        )
                        _check_warmup(name, warm)
                results = {name: RelayResult() for name in SERVERS}
                seconds = args.seconds / args.rounds
                print(
                    f"[relay] {args.rounds} rounds of {seconds:.1f} s per server, "
                    f"{len(pairs) * args.rate:.0f} messages/s"
                )
                for n in range(args.rounds):
                    order = SERVERS if n % 2 == 0 else SERVERS[::-1]
                    for name in order:
                        await run_round(
                            processes[name],
                            parties[name],
                            relays[name],
                            seconds,
                            args,
                            results[name],
                        )
                return results
            finally:
                await asyncio.gather(
                    *(
                        w.close()
                        for ps in parties.values()
                        for p in ps
                        for w in (p.sender, p.receiver)
                    )
                )
    finally:
        for process in processes.values():
            await stop_server(process)


def _check_warmup(name: str, warm: RelayResult) -> None:
    if warm.received != warm.sent:
        print(
            f"[relay] warning: {name} warm-up relayed {warm.received} of {warm.sent} "
            f"(refused: {dict(warm.failures)}, lost {warm.lost})",
            file=sys.stderr,
        )


# -- idle connections -----------------------------------------------------------------------


@dataclass(frozen=True)
class IdleRow:
    """The server's memory at one level of idle connections."""

    server: str
    connections: int  # beyond the warm-up
    rss_before_kib: int  # after the warm-up connections
    rss_kib: int
    alive: int  # connections still open when the RSS was read
    refused: int
    open_seconds: float  # to open the connections added for this level
    open_cpu: float | None  # server CPU seconds spent while they were opened
    added: int  # connections opened for this level
    load: float  # 1-minute load average when the RSS was read

    @property
    def kib_per_connection(self) -> float:
        """RSS growth per open connection since the warm-up."""
        return (self.rss_kib - self.rss_before_kib) / self.alive if self.alive else math.nan

    @property
    def cpu_ms_per_connect(self) -> float:
        """Server CPU per connection opened for this level, in milliseconds."""
        if self.open_cpu is None or not self.added:
            return math.nan
        return self.open_cpu / self.added * 1000


def rss_kib(process: ServerProcess) -> int:
    """The server process's resident set (`VmRSS`), in KiB."""
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/<pid>/status")


class IdleClients:
    """Idle connections to one server, opened a bounded number at a time."""

    def __init__(
        self, name: str, process: ServerProcess, session: aiohttp.ClientSession, seats: list[Seat]
    ) -> None:
        self.name = name
        self.process = process
        self.session = session
        self.seats = seats
        self.tokens = JoinTokens(SECRET)
        self.wires: list[Wire] = []
        self.refused: Counter[str] = Counter()

    @property
    def alive(self) -> int:
        """Connections still open."""
        return sum(w.alive for w in self.wires)

    async def open_up_to(self, total: int, max_seconds: float) -> float:
        """Open connections until there are `total` (or the deadline); the time it took."""
        started = time.perf_counter()
        deadline = started + max_seconds
        gate = asyncio.Semaphore(CONNECT_AT_ONCE)

        async def gated(n: int) -> None:
            async with gate:
                if time.perf_counter() < deadline:
                    await self._open(n)

        await asyncio.gather(*(gated(n) for n in range(len(self.wires), total)))
        return time.perf_counter() - started

    async def _open(self, n: int) -> None:
        seat = self.seats[n % len(self.seats)]
        base = self.process.base_url
        try:
            if self.name == "telehealth":
                rtc = RtcWire()
                self.wires.append(rtc)
                await rtc.connect(self.session, base, seat.fresh_token(self.tokens))
            else:
                plain = BaseWire()
                self.wires.append(plain)
                await plain.connect(self.session, base, seat.room_id, seat.peer_id)
        except (Refused, aiohttp.ClientError, TimeoutError) as exc:
            self.refused[f"{type(exc).__name__}: {exc}"[:120]] += 1

    async def stop(self) -> None:
        """Stop every reader (leaving the session then aborts the sockets: rather than
        closing thousands politely, the server is stopped next)."""
        await asyncio.gather(*(w.stop_reading() for w in self.wires))


async def measure_idle(
    backend: str, url: str, work: Path, pairs: list[Pair], args: argparse.Namespace
) -> list[IdleRow]:
    """Each server afresh: warm-up connections, then up to each level; the RSS growth."""
    rows: list[IdleRow] = []
    seats = [seat for pair in pairs for seat in (pair.host, pair.patient)]
    for name in SERVERS:
        process = (await start_servers(backend, url, work, args, "idle", only=name))[name]
        try:
            async with client_session() as session:
                clients = IdleClients(name, process, session, seats)
                try:
                    rows += await _idle_levels(clients, args)
                finally:
                    await clients.stop()
                for problem, count in clients.refused.items():
                    print(f"[idle] {name}: {count} not opened: {problem}", file=sys.stderr)
        finally:
            await stop_server(process)
    return rows


async def _idle_levels(clients: IdleClients, args: argparse.Namespace) -> list[IdleRow]:
    rows: list[IdleRow] = []
    await clients.open_up_to(args.idle_warmup, args.max_seconds)
    await asyncio.sleep(args.settle)
    before = rss_kib(clients.process)
    print(f"[idle] {clients.name}: {args.idle_warmup} warm-up connections, RSS {before} KiB")
    for level in args.idle:
        had, cpu_before = len(clients.wires), clients.process.cpu_seconds()
        took = await clients.open_up_to(args.idle_warmup + level, args.max_seconds)
        cpu_after = clients.process.cpu_seconds()
        await asyncio.sleep(args.settle)
        row = IdleRow(
            server=clients.name,
            connections=level,
            rss_before_kib=before,
            rss_kib=rss_kib(clients.process),
            alive=clients.alive - args.idle_warmup,
            refused=sum(clients.refused.values()),
            open_seconds=took,
            open_cpu=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
            added=len(clients.wires) - had,
            load=os.getloadavg()[0],
        )
        rows.append(row)
        print(
            f"[idle] {clients.name}: {level} connections opened in {took:.1f} s, "
            f"RSS {row.rss_kib} KiB, {row.kib_per_connection:.1f} KiB each, {row.alive} alive"
        )
    return rows


# -- servers --------------------------------------------------------------------------------


async def start_servers(
    backend: str,
    url: str,
    work: Path,
    args: argparse.Namespace,
    phase: str,
    only: str | None = None,
) -> dict[str, ServerProcess]:
    """`telehealth serve` and/or the baseline relay, each on a free loopback port."""
    env = server_env(url, work)
    started: dict[str, ServerProcess] = {}
    try:
        for name in SERVERS:
            if only not in {None, name}:
                continue
            port = free_port()
            if name == "telehealth":
                argv = [sys.executable]
                if args.profile:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    out = args.profile / f"telehealth-signalling-{phase}-{backend}.prof"
                    argv += [str(BENCH_DIR / "cpu_profile.py"), str(out)]
                argv += ["-m", "telehealth", "serve", "--host", LOOPBACK, "--port", str(port)]
                ready = "/readyz"
            else:
                script = str(BENCH_DIR / "support_signalling_baseline.py")
                argv = [sys.executable, script, "--host", LOOPBACK, "--port", str(port)]
                ready = "/healthz"
            log = work / f"{name}-{phase}.log"
            started[name] = await start_server(
                f"{name} ({backend}, {phase})", argv, env, port, log, ready
            )
    except BaseException:
        for process in started.values():
            await stop_server(process)
        raise
    return started


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to the hard limit (the servers inherit
    it); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the run --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Everything one run measured."""

    relay: dict[str, RelayResult] = field(default_factory=dict)
    idle: list[IdleRow] = field(default_factory=list)


async def bench(args: argparse.Namespace) -> Outcome:
    """Seed, then the relay and the idle measurements asked for."""
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix=f"bench-signalling-{args.backend}-") as tmp:
        work = Path(tmp)
        async with fresh_database(args.backend, args.pg_url, work) as url:
            started = time.perf_counter()
            pairs = await seed_rooms(url, work, args.pairs)
            print(
                f"[{args.backend}] seeded {len(pairs)} visit rooms in "
                f"{time.perf_counter() - started:.0f} s"
            )
            if args.measure in {"relay", "both"}:
                outcome.relay = await measure_relay(args.backend, url, work, pairs, args)
            if args.measure in {"idle", "both"}:
                outcome.idle = await measure_idle(args.backend, url, work, pairs, args)
    return outcome


def main() -> int:
    """Parse arguments, run, print the tables; non-zero if anything was lost or refused."""
    args = _parser().parse_args()
    limit = raise_fd_limit()
    problem = _check(args, limit)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    print(machine_note())
    print(code_note())
    print(f"open files: {limit} per process")
    outcome = asyncio.run(bench(args))
    print(machine_note())
    print(render(outcome, args))
    clean = all(
        r.lost == 0 and not r.failures and r.received == r.sent for r in outcome.relay.values()
    ) and all(row.refused == 0 and row.alive == row.connections for row in outcome.idle)
    return 0 if clean else 1


def _levels(text: str) -> list[int]:
    return sorted({int(part) for part in text.split(",") if part.strip()})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    add = parser.add_argument
    add("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    add("--measure", choices=["relay", "idle", "both"], default="both")
    add("--pairs", type=int, default=20, help="host/patient pairs, one visit room each (1..500)")
    add("--rate", type=float, default=5.0, help=f"signals a second per pair (0.1..{MAX_RATE:g})")
    add("--size", type=int, default=200, help="characters of each candidate string (64..1000)")
    add("--seconds", type=float, default=20.0, help="measured sending time per server")
    add("--rounds", type=int, default=4, help="interleaved rounds the seconds are split into")
    add("--warmup", type=float, default=3.0, help="unmeasured sending seconds per server first")
    add("--no-acks", dest="acks", action="store_false", help="signals without acks, both servers")
    add("--idle", type=_levels, default=[1000, 5000], help="idle connection levels, e.g. 1000,5000")
    add("--idle-warmup", type=int, default=20, help="connections opened before the first RSS")
    add("--settle", type=float, default=3.0, help="seconds between opening and reading the RSS")
    add("--max-seconds", type=float, default=180.0, help="deadline to open each idle level")
    add("--pg-url", default=DEFAULT_PG, help="PostgreSQL server for --backend postgresql")
    add(
        "--profile",
        type=Path,
        help="run the telehealth server under cProfile timed by its CPU clock, into DIR",
    )
    return parser


def _check(args: argparse.Namespace, fd_limit: int) -> str | None:
    bounds: dict[str, tuple[float, float, float]] = {
        "--pairs": (args.pairs, 1, 500),
        "--rate": (args.rate, 0.1, MAX_RATE),
        "--size": (args.size, 64, 1000),
        "--seconds": (args.seconds, 1, 600),
        "--rounds": (args.rounds, 1, 100),
        "--warmup": (args.warmup, 0, 60),
        "--idle-warmup": (args.idle_warmup, 1, 1000),
        "--settle": (args.settle, 0, 60),
        "--max-seconds": (args.max_seconds, 1, 3600),
    }
    for name, (value, low, high) in bounds.items():
        if not low <= value <= high:
            return f"{name} must be within {low:g}..{high:g}"
    if not args.idle or args.idle[0] < 1:
        return "--idle needs levels of at least 1"
    most = fd_limit - FD_MARGIN - args.idle_warmup
    if args.idle[-1] > most:
        return f"--idle: at most {most} connections with {fd_limit} open files (ulimit -n)"
    return None


# -- tables ---------------------------------------------------------------------------------


def render(outcome: Outcome, args: argparse.Namespace) -> str:
    """The result tables with the telehealth/baseline ratios and the issue's targets."""
    lines: list[str] = []
    if outcome.relay:
        lines += [
            f"relay: pairs={args.pairs} rate={args.rate:g}/s per pair "
            f"({args.pairs * args.rate:g} messages/s), candidate {args.size} chars, "
            f"acks {'on' if args.acks else 'off'}; {args.rounds} interleaved rounds, "
            f"{args.seconds:g} s per server; warm-up {args.warmup:g} s",
            f"{'server':<12}{'sent':>8}{'relayed':>9}{'refused':>9}{'lost':>6}{'msg/s':>8}"
            f"{'p50 ms':>9}{'p99 ms':>9}{'cpu us/msg':>12}{'cpu %':>7}{'load':>12}",
        ]
        for name in SERVERS:
            r = outcome.relay[name]
            cpu_share = (r.server_cpu or math.nan) / r.elapsed * 100 if r.elapsed else math.nan
            loads = f"{min(r.loads):.1f}-{max(r.loads):.1f}" if r.loads else "n/a"
            lines.append(
                f"{name:<12}{r.sent:>8}{r.received:>9}{sum(r.failures.values()):>9}{r.lost:>6}"
                f"{r.per_second:>8.1f}{r.percentile(50):>9.2f}{r.percentile(99):>9.2f}"
                f"{r.cpu_us:>12.1f}{cpu_share:>7.1f}{loads:>12}"
            )
        ours, base = outcome.relay["telehealth"], outcome.relay["baseline"]
        cpu = _ratio(ours.cpu_us, base.cpu_us)
        p50 = _ratio(ours.percentile(50), base.percentile(50))
        p99 = _ratio(ours.percentile(99), base.percentile(99))
        lines.append(
            f"telehealth/baseline: p50 latency {_fmt(p50)}, p99 latency {_fmt(p99)}"
            f", server CPU per message {_fmt(cpu)} (target at most 2x: {_verdict(cpu, 2.0)})"
        )
        for name in SERVERS:
            failures = outcome.relay[name].failures
            if failures:
                lines.append(f"{name}: refused signals by code: {dict(failures)}")
    if outcome.idle:
        lines += [
            f"idle connections: {args.idle_warmup} warm-up first, RSS read {args.settle:g} s "
            "after the last one opened; KiB each = RSS growth since the warm-up / connections open;"
            " cpu ms/conn = server CPU while this level's connections were opened / their number",
            f"{'server':<12}{'conns':>7}{'alive':>7}{'open s':>8}{'cpu ms/conn':>12}"
            f"{'RSS before MiB':>16}{'RSS MiB':>9}{'KiB each':>10}{'load':>6}",
        ]
        for row in outcome.idle:
            lines.append(
                f"{row.server:<12}{row.connections:>7}{row.alive:>7}{row.open_seconds:>8.1f}"
                f"{row.cpu_ms_per_connect:>12.1f}"
                f"{row.rss_before_kib / 1024:>16.1f}{row.rss_kib / 1024:>9.1f}"
                f"{row.kib_per_connection:>10.1f}{row.load:>6.1f}"
            )
        for level in args.idle:
            found = {r.server: r for r in outcome.idle if r.connections == level}
            if set(found) != set(SERVERS):
                continue
            ours_kib = found["telehealth"].kib_per_connection
            ratio = _ratio(ours_kib, found["baseline"].kib_per_connection)
            lines.append(
                f"at {level}: telehealth {ours_kib:.1f} KiB per idle connection "
                f"(target at most 40 KiB: {_verdict(ours_kib, 40.0)}), "
                f"{_fmt(ratio)} the baseline's"
            )
    return "\n".join(lines)


def _ratio(a: float, b: float) -> float:
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else math.nan


def _fmt(ratio: float) -> str:
    return "n/a" if math.isnan(ratio) else f"{ratio:.2f}x"


def _verdict(value: float, target: float) -> str:
    if math.isnan(value):
        return "unknown"
    return "met" if value <= target else "missed"


if __name__ == "__main__":
    raise SystemExit(main())
