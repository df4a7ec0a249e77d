"""Specialist consults over HTTP: the queue listing and the attachment upload of the real
server, each beside a bare in-run baseline, on SQLite and PostgreSQL.

    python bench/consults.py --backend sqlite|postgresql|both --consults N --clients C
        --listings M --upload-mib S --uploads U --upload-clients K

For each backend: a fresh database (a temporary SQLite file, or a new PostgreSQL database
that is dropped afterwards), migrated with `telehealth db upgrade` and seeded through the
app's services with a hub hospital of cardiologists, district doctors and patients, and N
consults over several specialties (some accepted, some by two specialists, some waiting on
the requester, some answered with a signed opinion, some with a small PDF attached). Then
`python -m telehealth serve` and `bench/support_consults_baseline.py` run side by side on
free loopback ports against the same database and take the same load, interleaved (rounds
alternate which server goes first), so that a change in the machine's load hits both:

- listing: C clients, closed loop, `GET /api/v1/consults?queue=specialty&limit=100` with a
  cardiologist's token, against `GET /queue` of the baseline: one SELECT of the same rows
  (checked to be the same ids in the same order before measuring), id/status/due_at as JSON;
- upload: a valid S MiB PDF (`%PDF-1.4` header, random filler, `%%EOF`; different bytes
  every time, so the store never de-duplicates) as the multipart part `file` to
  `POST /api/v1/consults/{id}/attachments` by the requesting doctor, against `POST /upload`
  of the baseline, which streams the part to a temporary file with SHA-256 and fsyncs it.
  U one after another, then U more K at a time. Each answer's SHA-256 and size are checked.

How to read it: every figure is a telehealth/baseline ratio taken in the same run; absolute
numbers move with the machine (the first line names its load). "cpu ms" is the server
process's user+system CPU per request from `/proc`. Transactions and statements per request
are counted in-process on one request after a warm-up (engine events), so they do not depend
on the load. Loopback only; every load is bounded by its count and by --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from baseline_server import ENGINE as BASELINE_ENGINE
from booking import fresh_database, machine_note
from loadgen import percentile_ms
from procs import LOOPBACK, ServerProcess, free_port, start_server, stop_server
from sqlalchemy import event
from sqlalchemy.engine import Engine
from support_consults_baseline import create_baseline_app

import telehealth
from telehealth import keys
from telehealth.accounts import schemas as accounts
from telehealth.accounts.models import FacilityLevel, Role
from telehealth.app import create_app
from telehealth.auth.audit import AuditContext
from telehealth.auth.principal import Principal
from telehealth.config import PasswordPolicy, Settings
from telehealth.consults import schemas as consults
from telehealth.consults.models import Disposition, Urgency

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
SECRET = "bench-secret-key-not-for-production"
PASSWORD = "bench-password-1"  # a throwaway database
SEED = AuditContext(client_address="bench")
FAST_PASSWORDS = PasswordPolicy(time_cost=1, memory_cost_kib=8, parallelism=1)
MIB = 1024 * 1024
# Three of five consults go to cardiology, the queue measured; the rest elsewhere.
SPECIALTIES = ("cardiology", "neurology", "cardiology", "nephrology", "cardiology")
URGENCIES = ("routine", "urgent", "routine", "emergency")
DISTRICTS, PATIENTS_PER_DISTRICT, CARDIOLOGISTS = 4, 10, 3
QUESTION = "Có cần chuyển tuyến chụp mạch vành không? Điện tim có ST chênh xuống ở V4-V6."
SUMMARY = consults.CaseSummary(
    history="Đau ngực trái 2 ngày, tăng khi gắng sức, đỡ khi nghỉ. Tăng huyết áp 5 năm.",
    examination="Tim đều, không âm thổi. Phổi không ran.",
    vitals=consults.Vitals(heart_rate=96, systolic_bp=150, diastolic_bp=95, spo2=97),
    current_treatment="Aspirin 81 mg, amlodipin 5 mg",
    allergies="Không",
)
UPLOAD_WARMUP = 2  # unmeasured uploads per server and mode


@dataclass(frozen=True)
class Client:
    """One listing client: a cardiologist's token and the ids the baseline filters by."""

    token: str
    practitioner_id: str


@dataclass(frozen=True)
class Seeded:
    """What the load needs: cardiologists to list, a doctor's consults to upload to."""

    hub_id: str
    clients: list[Client]
    uploader_token: str
    upload_consults: list[str]
    queue_size: int
    census: dict[str, int]


@dataclass
class Result:
    """What one server took in one measurement, added up over its rounds."""

    expected: int
    latencies: list[float] = field(default_factory=list)  # seconds, expected answers only
    statuses: Counter[int] = field(default_factory=Counter)
    elapsed: float = 0.0
    payload_bytes: int = 0  # request bodies sent (uploads) or answers read (listings)
    server_cpu: float | None = None
    samples: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        """Requests answered with the expected status."""
        return self.statuses[self.expected]

    @property
    def per_second(self) -> float:
        """Expected answers per second of wall-clock time."""
        return self.ok / self.elapsed if self.elapsed else 0.0

    @property
    def mib_per_second(self) -> float:
        """Payload MiB per second of wall-clock time."""
        return self.payload_bytes / MIB / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms(self) -> float:
        """Server CPU per expected answer, in milliseconds (NaN if unknown)."""
        if self.server_cpu is None or not self.ok:
            return math.nan
        return self.server_cpu / self.ok * 1000

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the expected answers' latencies, in milliseconds."""
        return percentile_ms(self.latencies, q)

    def record(self, status: int, took: float, text: str) -> None:
        """Count one answer."""
        self.statuses[status] += 1
        if status == self.expected:
            self.latencies.append(took)
        else:
            self.samples.setdefault(status, text[:300])


@dataclass(frozen=True)
class Row:
    """One line of a result table."""

    backend: str
    what: str  # listing, upload 1 at a time, upload K at a time
    server: str
    result: Result


@dataclass
class Servers:
    """The two servers under test and an HTTP session to each."""

    telehealth: ServerProcess
    baseline: ServerProcess
    sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)

    def process(self, server: str) -> ServerProcess:
        """The process of `telehealth` or `baseline`."""
        return self.telehealth if server == "telehealth" else self.baseline


def main() -> int:
    """Parse arguments, run every backend asked for, print the tables."""
    args = _parser().parse_args()
    problem = _check(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(machine_note())
    print(code_note())
    rows: list[Row] = []
    counts: list[str] = []
    failures = 0
    for backend in backends:
        found, lines, failed = asyncio.run(bench_backend(backend, args))
        rows += found
        counts += lines
        failures += failed
    print(machine_note())
    print(render_tables(rows, args))
    print("transactions and statements of one request (in-process, after a warm-up):")
    print("\n".join(counts))
    answered = all(r.result.ok == sum(r.result.statuses.values()) for r in rows)
    return 0 if answered and not failures else 1


def code_note() -> str:
    """Which telehealth is measured: its directory and, in a git checkout, the commit and
    whether `telehealth/` differs from it (the servers import the same package)."""
    root = Path(telehealth.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "telehealth"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"code: {root} (not a git checkout)"
    return f"code: {root} at {commit}{' with local changes' if changed else ''}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    add = parser.add_argument
    add("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    add("--measure", choices=["listing", "upload", "both"], default="both")
    add("--consults", type=int, default=200, help="consults in the database (10..5000)")
    add("--limit", type=int, default=100, help="page size of the listing (1..200)")
    add("--clients", type=int, default=10, help="concurrent listing clients (1..200)")
    add("--listings", type=int, default=500, help="measured listings per server")
    add("--rounds", type=int, default=5, help="interleaved rounds the listings come in")
    add("--warmup", type=int, default=20, help="unmeasured listings per server first")
    add("--upload-mib", type=int, default=8, help="size of each uploaded file, MiB (1..48)")
    add("--uploads", type=int, default=20, help="uploads one at a time per server (0: none)")
    add("--upload-clients", type=int, default=4, help="uploads at once in the concurrent run")
    add("--concurrent-uploads", type=int, default=20, help="per server (0: none)")
    add("--max-seconds", type=float, default=120.0, help="deadline of each batch")
    add("--pg-url", default=DEFAULT_PG, help="PostgreSQL server to use")
    add("--profile", type=Path, help="run the telehealth server under cProfile, into DIR")
    add("--show-statements", action="store_true", help="print the counted statements")
    return parser


def _check(args: argparse.Namespace) -> str | None:
    bounds = {
        "--consults": (args.consults, 10, 5000),
        "--limit": (args.limit, 1, 200),
        "--clients": (args.clients, 1, 200),
        "--listings": (args.listings, 1, 100_000),
        "--rounds": (args.rounds, 1, 1000),
        "--warmup": (args.warmup, 0, 10_000),
        "--upload-mib": (args.upload_mib, 1, 48),
        "--uploads": (args.uploads, 0, 1000),
        "--upload-clients": (args.upload_clients, 1, 32),
        "--concurrent-uploads": (args.concurrent_uploads, 0, 1000),
    }
    for name, (value, low, high) in bounds.items():
        if not low <= value <= high:
            return f"{name} must be within {low}..{high}"
    if not 0 < args.max_seconds <= 3600:
        return "--max-seconds must be within 0..3600"
    return None


# -- one backend ----------------------------------------------------------------------------


async def bench_backend(backend: str, args: argparse.Namespace) -> tuple[list[Row], list[str], int]:
    """Seed one fresh database, count one request of each kind, then load both servers."""
    with tempfile.TemporaryDirectory(prefix=f"bench-consults-{backend}-") as tmp:
        work = Path(tmp)
        async with fresh_database(backend, args.pg_url, work) as url:
            print(f"[{backend}] seeding {args.consults} consults")
            started = time.perf_counter()
            seeded, counts = await seed_and_count(url, work, args)
            print(
                f"[{backend}] seeded in {time.perf_counter() - started:.0f} s: {seeded.census}, "
                f"{seeded.queue_size} open in the cardiology queue"
            )
            servers = await start_servers(backend, url, work, args)
            try:
                same = args.measure == "upload" or await same_rows(servers, seeded, args.limit)
                failed = 0 if same else 1
                rows: list[Row] = []
                if args.measure in {"listing", "both"}:
                    rows += await measure_listing(backend, servers, seeded, args)
                if args.measure in {"upload", "both"}:
                    rows += await measure_uploads(backend, servers, seeded, args)
            finally:
                for session in servers.sessions.values():
                    await session.close()
                await stop_server(servers.telehealth)
                await stop_server(servers.baseline)
    for row in rows:
        for status, sample in row.result.samples.items():
            print(f"[{backend}] {row.what} {row.server}: unexpected {status}: {sample}")
    return rows, [f"{backend:<11}{line}" for line in counts], failed


def server_env(url: str, work: Path) -> dict[str, str]:
    """The telehealth server's environment: the bench database and data directory."""
    return {
        "TELEHEALTH_DATABASE_URL": url,
        "TELEHEALTH_DATA_DIR": str(work / "data"),
        "TELEHEALTH_SECRET_KEY": SECRET,
        "TELEHEALTH_OUTBOX_ENABLED": "false",
    }


async def start_servers(backend: str, url: str, work: Path, args: argparse.Namespace) -> Servers:
    """`telehealth serve` and the baseline, each on a free loopback port."""
    argv = [sys.executable]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        out = args.profile / f"telehealth-consults-{backend}.prof"
        argv += ["-m", "cProfile", "-o", str(out)]
    env = server_env(url, work)
    port = free_port()
    telehealth = await start_server(
        f"telehealth ({backend})",
        [*argv, "-m", "telehealth", "serve", "--host", LOOPBACK, "--port", str(port)],
        env,
        port,
        work / "telehealth.log",
        "/readyz",
    )
    try:
        port = free_port()
        baseline_argv = [
            sys.executable,
            str(BENCH_DIR / "support_consults_baseline.py"),
            *("--database-url", url, "--upload-dir", str(work / "baseline-uploads")),
            *("--host", LOOPBACK, "--port", str(port)),
        ]
        baseline = await start_server(
            f"baseline ({backend})", baseline_argv, env, port, work / "baseline.log", "/healthz"
        )
    except BaseException:
        await stop_server(telehealth)
        raise
    servers = Servers(telehealth, baseline)
    timeout = aiohttp.ClientTimeout(total=args.max_seconds)
    for name in ("telehealth", "baseline"):
        connector = aiohttp.TCPConnector(limit=max(args.clients, args.upload_clients))
        servers.sessions[name] = aiohttp.ClientSession(
            servers.process(name).base_url, connector=connector, timeout=timeout
        )
    return servers


# -- seeding --------------------------------------------------------------------------------


async def seed_and_count(
    url: str, work: Path, args: argparse.Namespace
) -> tuple[Seeded, list[str]]:
    """Seed the network through the app's services, then count one request of each kind
    on the same app in this process; the app is closed before the servers start."""
    settings = Settings(
        database_url=url, data_dir=work / "data", secret_key=SECRET, passwords=FAST_PASSWORDS
    )
    runner = web.AppRunner(create_app(settings))
    await runner.setup()  # runs the cleanup_ctx startups: engine and services
    try:
        seeded = await _seed(runner.app, args.consults)
        counts = await count_statements(runner, seeded, work, args)
    finally:
        await runner.cleanup()
    return seeded, counts


async def _seed(app: web.Application, total: int) -> Seeded:
    hub = await _facility(app, "BVTW", "Bệnh viện Trung ương", FacilityLevel.CENTRAL)
    cardiologists = [
        await _staff(app, f"bench-cardio-{n}", Role.SPECIALIST, hub, "cardiology")
        for n in range(CARDIOLOGISTS)
    ]
    doctors: list[Principal] = []
    patients: list[list[str]] = []
    for d in range(DISTRICTS):
        district = await _facility(app, f"BVH{d}", f"Bệnh viện huyện {d}", FacilityLevel.DISTRICT)
        doctor = await _staff(app, f"bench-doctor-{d}", Role.DOCTOR, district, "general_medicine")
        doctors.append(doctor[0])
        patients.append(
            [
                (
                    await app[keys.ACCOUNTS].register_patient(
                        doctor[0], SEED, accounts.PatientCreate(full_name=f"Bệnh nhân {d}-{n}")
                    )
                ).id
                for n in range(PATIENTS_PER_DISTRICT)
            ]
        )
    census: Counter[str] = Counter()
    upload_consults: list[str] = []
    queue_size = 0
    for n in range(total):
        d = n % DISTRICTS
        specialty = SPECIALTIES[n % len(SPECIALTIES)]
        named = cardiologists[1][1] if specialty == "cardiology" and n % 15 == 0 else None
        filed = await app[keys.CONSULTS].file(
            doctors[d],
            SEED,
            consults.ConsultCreate(
                patient_id=patients[d][(n // DISTRICTS) % PATIENTS_PER_DISTRICT],
                specialty=specialty,
                urgency=Urgency(URGENCIES[n % len(URGENCIES)]),
                question=QUESTION,
                summary=SUMMARY,
                target_facility_id=hub if n % 10 == 0 else None,
                target_practitioner_id=named,
            ),
        )
        if d == 0:
            upload_consults.append(filed.id)
        if n % 4 == 1:
            await _attach_small_pdf(app, doctors[d], filed.id, n)
            census["with a PDF"] += 1
        state = (
            await _progress(app, cardiologists, filed.id, n) if specialty == "cardiology" else ""
        )
        census[f"{specialty} {state or 'submitted'}"] += 1
        if specialty == "cardiology" and state != "answered":
            queue_size += 1
    # A token per listing client (up to 32, then reused), the cardiologists in turn.
    clients = [Client(*await _token(app, f"bench-cardio-{n % CARDIOLOGISTS}")) for n in range(32)]
    uploader, _ = await _token(app, "bench-doctor-0")
    return Seeded(hub, clients, uploader, upload_consults, queue_size, dict(sorted(census.items())))


async def _progress(
    app: web.Application, cardiologists: list[tuple[Principal, str]], consult_id: str, n: int
) -> str:
    """Take some cardiology consults further: accepted, by two, waiting, answered."""
    service = app[keys.CONSULTS]
    step = (n // len(SPECIALTIES)) % 10
    if step in {0, 2, 4, 6, 8}:
        return ""
    lead = cardiologists[n % CARDIOLOGISTS][0]
    await service.accept(lead, SEED, consult_id)
    if step == 3:
        await service.accept(cardiologists[(n + 1) % CARDIOLOGISTS][0], SEED, consult_id)
        return "accepted by two"
    if step == 5:
        ask = consults.InfoRequestIn(question="Xin kết quả men tim (troponin) lúc vào viện.")
        await service.request_info(lead, SEED, consult_id, ask)
        return "info_requested"
    if step == 7:
        opinion = consults.OpinionIn(
            assessment="Đau thắt ngực không ổn định, nguy cơ trung bình.",
            recommendations="Điều trị nội khoa tối ưu, làm lại điện tim và troponin sau 6 giờ.",
            disposition=Disposition.MANAGE_LOCALLY,
        )
        await service.sign_opinion(lead, SEED, consult_id, opinion)
        return "answered"
    return "accepted"


async def _facility(app: web.Application, code: str, name: str, level: FacilityLevel) -> str:
    out = await app[keys.ACCOUNTS].create_facility(
        SEED, accounts.FacilityIn(code=code, name=name, level=level, province="Lai Châu")
    )
    return out.id


async def _staff(
    app: web.Application, username: str, role: Role, facility_id: str, specialty: str
) -> tuple[Principal, str]:
    """A clinician with a practitioner profile: their principal and practitioner id."""
    await app[keys.ACCOUNTS].create_user(
        SEED,
        accounts.UserCreate(
            username=username,
            password=PASSWORD,
            full_name=f"Bác sĩ {username}",
            roles=[role],
            facility_id=facility_id,
            specialties=[specialty],
        ),
    )
    signed_in = await app[keys.AUTH].sign_in(SEED, username, PASSWORD, "bearer", None)
    me = await app[keys.ACCOUNTS].me(signed_in.principal)
    assert me.practitioner_id is not None
    return signed_in.principal, me.practitioner_id


async def _token(app: web.Application, username: str) -> tuple[str, str]:
    """A new bearer token of a clinician, and their practitioner id."""
    signed_in = await app[keys.AUTH].sign_in(SEED, username, PASSWORD, "bearer", None)
    me = await app[keys.ACCOUNTS].me(signed_in.principal)
    assert me.practitioner_id is not None
    return signed_in.token, me.practitioner_id


class _BytesSource:
    """An in-memory file for the attachment service (its `FileSource`)."""

    def __init__(self, filename: str, data: bytes) -> None:
        self.filename = filename
        self._data = data

    async def read_chunk(self, size: int) -> bytes:
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk


async def _attach_small_pdf(
    app: web.Application, doctor: Principal, consult_id: str, n: int
) -> None:
    source = _BytesSource(f"dien-tim-{n}.pdf", pdf_bytes(f"seed {n}", 4096))
    await app[keys.ATTACHMENTS].upload(doctor, SEED, consult_id, source)


def pdf_bytes(marker: str, size: int, filler: bytes = b"") -> bytes:
    """A file the server takes as a valid PDF: version header, a comment line naming
    `marker`, filler (zeros if none given) and the `%%EOF` trailer; `size` bytes in all."""
    head = f"%PDF-1.4\n% {marker}\n".encode()
    tail = b"\n%%EOF\n"
    room = size - len(head) - len(tail)
    body = filler[:room] if len(filler) >= room else b"\0" * room
    return head + body + tail


# -- statements -----------------------------------------------------------------------------


async def count_statements(
    runner: web.AppRunner, seeded: Seeded, work: Path, args: argparse.Namespace
) -> list[str]:
    """One listing and one upload on each server, in this process, counted by engine
    events (BEGIN is not counted as a statement)."""
    ports = {"telehealth": free_port(), "baseline": free_port()}
    await web.TCPSite(runner, LOOPBACK, ports["telehealth"]).start()
    database_url = runner.app[keys.SETTINGS].database_url
    baseline = web.AppRunner(create_baseline_app(database_url, work / "baseline-uploads"))
    await baseline.setup()
    await web.TCPSite(baseline, LOOPBACK, ports["baseline"]).start()
    engines = {
        "telehealth": runner.app[keys.ENGINE].sync_engine,
        "baseline": baseline.app[BASELINE_ENGINE].sync_engine,
    }
    client = seeded.clients[0]
    paths = {
        ("listing", "telehealth"): _api_listing(args.limit),
        ("listing", "baseline"): _baseline_listing(seeded, client, args.limit),
        ("upload", "telehealth"): f"/api/v1/consults/{seeded.upload_consults[-1]}/attachments",
        ("upload", "baseline"): "/upload",
    }
    lines: list[str] = []
    try:
        for (what, server), path in paths.items():
            async with aiohttp.ClientSession(f"http://{LOOPBACK}:{ports[server]}") as http:
                send = _one_upload if what == "upload" else _one_listing
                token = seeded.uploader_token if what == "upload" else client.token
                request = functools.partial(send, http, path, _bearer(token))
                counted = await _counted(engines[server], request, args.show_statements)
                lines.append(f"{what:<8}{server:<11}{counted}")
    finally:
        await baseline.cleanup()
    return lines


async def _one_listing(http: aiohttp.ClientSession, path: str, headers: dict[str, str]) -> int:
    async with http.get(path, headers=headers) as resp:
        await resp.read()
        return resp.status


async def _one_upload(http: aiohttp.ClientSession, path: str, headers: dict[str, str]) -> int:
    upload = multipart_pdf(f"count {uuid.uuid4().hex}", 64 * 1024)
    sent = {**headers, "Content-Type": upload.content_type}
    async with http.post(path, data=upload.body, headers=sent) as resp:
        await resp.read()
        return resp.status


async def _counted(engine: Engine, request: Callable[[], Awaitable[int]], show: bool) -> str:
    """Send `request` twice (the first warms up: the token's last-seen touch, caches) and
    count the second one's transactions and statements."""
    await request()
    await asyncio.sleep(0.5)  # let the app's start-up background queries pass
    counts: Counter[str] = Counter()
    begins: Counter[str] = Counter()

    def begin(_connection: Any) -> None:
        counts.update(["transactions"])

    def statement(_c: Any, _cur: Any, sql: str, *_a: Any) -> None:
        if sql.startswith("BEGIN"):
            begins.update([sql])  # SQLite only: asyncpg begins without a cursor
        else:
            counts.update(["statements", sql.split()[0].upper()])
        if show:
            print("   ", " ".join(sql.split())[:110])

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        status = await request()
    finally:
        event.remove(engine, "begin", begin)
        event.remove(engine, "before_cursor_execute", statement)
    verbs = ", ".join(
        f"{verb} {n}"
        for verb, n in sorted(counts.items())
        if verb not in {"transactions", "statements"}
    )
    opened = "".join(f", {sql} {n}" for sql, n in sorted(begins.items()))
    return (
        f"status {status}: {counts['transactions']} transactions{opened}; "
        f"{counts['statements']} statements ({verbs or 'none'})"
    )


# -- listing --------------------------------------------------------------------------------


def _api_listing(limit: int) -> str:
    return f"/api/v1/consults?queue=specialty&limit={limit}"


def _baseline_listing(seeded: Seeded, client: Client, limit: int) -> str:
    return (
        f"/queue?specialty=cardiology&facility={seeded.hub_id}"
        f"&practitioner={client.practitioner_id}&limit={limit}"
    )


async def same_rows(servers: Servers, seeded: Seeded, limit: int) -> bool:
    """True if both servers list the same ids in the same order for each cardiologist."""
    same = True
    for client in seeded.clients[:CARDIOLOGISTS]:
        lists: dict[str, list[str]] = {}
        auth = {"Authorization": f"Bearer {client.token}"}
        for server, path in (
            ("telehealth", _api_listing(limit)),
            ("baseline", _baseline_listing(seeded, client, limit)),
        ):
            async with servers.sessions[server].get(path, headers=auth) as resp:
                body = await resp.json()
            lists[server] = [item["id"] for item in body["items"]]
        if lists["telehealth"] != lists["baseline"]:
            same = False
            print(
                f"listing: telehealth and baseline differ for {client.practitioner_id}: "
                f"{len(lists['telehealth'])} and {len(lists['baseline'])} rows",
                file=sys.stderr,
            )
    return same


async def measure_listing(
    backend: str, servers: Servers, seeded: Seeded, args: argparse.Namespace
) -> list[Row]:
    """Warm-up, then `--rounds` rounds of listings; each round loads one server then the
    other, the first server alternating from round to round."""
    # Each client has its own token; the baseline gets the same header and ignores it.
    clients = _cycle(seeded.clients, args.clients)
    requests = {
        "telehealth": [(_api_listing(args.limit), _bearer(c.token)) for c in clients],
        "baseline": [(_baseline_listing(seeded, c, args.limit), _bearer(c.token)) for c in clients],
    }
    results = {name: Result(expected=200) for name in requests}
    for name in requests:
        warm = Result(expected=200)
        await _list_batch(servers.sessions[name], requests[name], args.warmup, warm, args)
    cpu_before = {name: servers.process(name).cpu_seconds() for name in requests}
    per_round = _split(args.listings, args.rounds)
    print(f"[{backend}] listing: {args.listings} per server, {args.clients} clients")
    for n, count in enumerate(per_round):
        order = ["telehealth", "baseline"] if n % 2 == 0 else ["baseline", "telehealth"]
        for name in order:
            await _list_batch(servers.sessions[name], requests[name], count, results[name], args)
    for name, result in results.items():
        result.server_cpu = _cpu_delta(cpu_before[name], servers.process(name).cpu_seconds())
    return [Row(backend, "listing", name, results[name]) for name in ("telehealth", "baseline")]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _cycle(clients: list[Client], count: int) -> list[Client]:
    return [clients[n % len(clients)] for n in range(count)]


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def _cpu_delta(before: float | None, after: float | None) -> float | None:
    return after - before if before is not None and after is not None else None


async def _list_batch(
    session: aiohttp.ClientSession,
    requests: list[tuple[str, dict[str, str]]],
    count: int,
    result: Result,
    args: argparse.Namespace,
) -> None:
    """`count` GETs from len(requests) closed-loop clients, each with its own request."""
    left = [count]
    started = time.perf_counter()
    stop_at = started + args.max_seconds

    async def client(path: str, headers: dict[str, str]) -> None:
        while left[0] > 0 and time.perf_counter() < stop_at:
            left[0] -= 1
            sent = time.perf_counter()
            try:
                async with session.get(path, headers=headers) as resp:
                    status, body = resp.status, await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, body = 0, repr(exc).encode()
            result.record(status, time.perf_counter() - sent, body.decode(errors="replace"))
            result.payload_bytes += len(body) if status == 200 else 0

    await asyncio.gather(*(client(path, headers) for path, headers in requests))
    result.elapsed += time.perf_counter() - started


# -- uploads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One prepared upload: the request body, its content type, the file's digest and size."""

    body: bytes
    content_type: str
    sha256: str
    size: int


def multipart_pdf(marker: str, size: int, filler: bytes = b"") -> Upload:
    """A multipart/form-data body whose one part, `file`, is a `size`-byte PDF."""
    pdf = pdf_bytes(marker, size, filler)
    boundary = uuid.uuid4().hex
    assert boundary.encode() not in pdf
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="ket-qua-{marker[:8]}.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    body = head + pdf + f"\r\n--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    return Upload(body, content_type, hashlib.sha256(pdf).hexdigest(), len(pdf))


async def measure_uploads(
    backend: str, servers: Servers, seeded: Seeded, args: argparse.Namespace
) -> list[Row]:
    """Uploads one at a time (servers alternating upload by upload), then K at a time
    (alternating batch by batch)."""
    size = args.upload_mib * MIB
    filler = os.urandom(size)
    paths = {
        "telehealth": [f"/api/v1/consults/{c}/attachments" for c in seeded.upload_consults],
        "baseline": ["/upload"],
    }
    headers = {"Authorization": f"Bearer {seeded.uploader_token}"}
    rows: list[Row] = []
    modes = [("1 at a time", 1, args.uploads)]
    modes.append((f"{args.upload_clients} at a time", args.upload_clients, args.concurrent_uploads))
    sent = 0
    for mode, at_once, total in modes:
        if total == 0:
            continue
        print(f"[{backend}] upload: {total} x {args.upload_mib} MiB per server, {mode}")
        results = {name: Result(expected=201) for name in paths}
        warm = {name: Result(expected=201) for name in paths}
        batches = [(True, UPLOAD_WARMUP)] + [
            (False, k) for k in _split(total, -(-total // at_once))
        ]
        cpu_before: dict[str, float | None] = {}
        for n, (warmup, count) in enumerate(batches):
            order = ["telehealth", "baseline"] if n % 2 == 0 else ["baseline", "telehealth"]
            if n == 1:
                cpu_before = {name: servers.process(name).cpu_seconds() for name in paths}
            for name in order:
                uploads = [
                    multipart_pdf(
                        f"{backend} {name} {sent + k:06d} {uuid.uuid4().hex}", size, filler
                    )
                    for k in range(count)
                ]
                targets = [paths[name][(sent + k) % len(paths[name])] for k in range(count)]
                sent += count
                result = warm[name] if warmup else results[name]
                await _upload_batch(servers.sessions[name], targets, uploads, headers, result)
        for name, result in results.items():
            result.server_cpu = _cpu_delta(cpu_before[name], servers.process(name).cpu_seconds())
            rows.append(Row(backend, f"upload {mode}", name, result))
    return rows


async def _upload_batch(
    session: aiohttp.ClientSession,
    paths: list[str],
    uploads: list[Upload],
    headers: dict[str, str],
    result: Result,
) -> None:
    """Send every body at once (one each to `paths`); check each answer's digest and size."""

    async def one(path: str, upload: Upload) -> None:
        sent = time.perf_counter()
        try:
            async with session.post(
                path, data=upload.body, headers={**headers, "Content-Type": upload.content_type}
            ) as resp:
                status, text = resp.status, await resp.text()
                answer = await resp.json() if status == 201 else {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, text, answer = 0, repr(exc), {}
        took = time.perf_counter() - sent
        if status == 201 and (answer.get("sha256"), answer.get("size")) != (
            upload.sha256,
            upload.size,
        ):
            status, text = -1, f"not the file sent (digest, size): {text}"
        result.record(status, took, text)
        result.payload_bytes += upload.size if status == 201 else 0

    started = time.perf_counter()
    await asyncio.gather(*(one(p, u) for p, u in zip(paths, uploads, strict=True)))
    result.elapsed += time.perf_counter() - started


# -- tables ---------------------------------------------------------------------------------


def render_tables(rows: list[Row], args: argparse.Namespace) -> str:
    """The result tables, with telehealth/baseline ratios per backend and measurement."""
    lines: list[str] = []
    listing = [r for r in rows if r.what == "listing"]
    if listing:
        lines += [
            f"listing: consults={args.consults} limit={args.limit} clients={args.clients} "
            f"listings={args.listings}/server in {args.rounds} interleaved rounds, "
            f"warmup={args.warmup}",
            f"{'backend':<11}{'server':<12}{'ok':>6}{'other':>7}{'list/s':>9}{'p50 ms':>9}"
            f"{'p99 ms':>9}{'cpu ms/req':>12}{'KiB/answer':>12}",
        ]
        for row in listing:
            r = row.result
            lines.append(
                f"{row.backend:<11}{row.server:<12}{r.ok:>6}{sum(r.statuses.values()) - r.ok:>7}"
                f"{r.per_second:>9.1f}{r.percentile(50):>9.1f}{r.percentile(99):>9.1f}"
                f"{r.cpu_ms:>12.1f}{r.payload_bytes / max(r.ok, 1) / 1024:>12.1f}"
            )
        lines += _ratios(listing, "listing", "p99")
    uploads = [r for r in rows if r.what.startswith("upload")]
    if uploads:
        lines += [
            f"upload: {args.upload_mib} MiB PDF; {args.uploads}/server one at a time, "
            f"{args.concurrent_uploads}/server {args.upload_clients} at a time; "
            f"{UPLOAD_WARMUP} warm-up each",
            f"{'backend':<11}{'mode':<14}{'server':<12}{'ok':>5}{'other':>7}{'MiB/s':>8}"
            f"{'p50 ms':>9}{'max ms':>9}{'cpu ms/upload':>15}",
        ]
        for row in uploads:
            r = row.result
            lines.append(
                f"{row.backend:<11}{row.what.removeprefix('upload '):<14}{row.server:<12}"
                f"{r.ok:>5}{sum(r.statuses.values()) - r.ok:>7}{r.mib_per_second:>8.1f}"
                f"{r.percentile(50):>9.1f}{r.percentile(100):>9.1f}{r.cpu_ms:>15.1f}"
            )
        for what in dict.fromkeys(r.what for r in uploads):
            lines += _ratios([r for r in uploads if r.what == what], what, "max")
    return "\n".join(lines)


def _ratios(rows: list[Row], what: str, tail: str) -> list[str]:
    out = []
    q = 99 if tail == "p99" else 100
    for backend in dict.fromkeys(r.backend for r in rows):
        ours, base = (
            next(r.result for r in rows if (r.backend, r.server) == (backend, server))
            for server in ("telehealth", "baseline")
        )
        out.append(
            f"{backend} {what}: telehealth/baseline throughput "
            f"{_ratio(ours.per_second, base.per_second)}, "
            f"p50 latency {_ratio(ours.percentile(50), base.percentile(50))}, "
            f"{tail} latency {_ratio(ours.percentile(q), base.percentile(q))}, "
            f"server CPU per request {_ratio(ours.cpu_ms, base.cpu_ms)}"
        )
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and not (math.isnan(a) or math.isnan(b)) else "n/a"


if __name__ == "__main__":
    raise SystemExit(main())
