"""Booking over HTTP: the real server against a bare-INSERT baseline, SQLite and PostgreSQL.

    python bench/booking.py --backend sqlite|postgresql|both --clients N --bookings M

For each backend: a fresh database (a temporary SQLite file, or a new PostgreSQL database
that is dropped afterwards), migrated with `telehealth db upgrade` and seeded through the
app's services; then `python -m telehealth serve` on a free loopback port takes M bookings
of distinct slots from N concurrent clients, and `bench/baseline_server.py` takes the same
load on the same database with one INSERT per request. Loopback only; every run is bounded
by its count and by --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from loadgen import Call, LoadResult, run_load
from procs import LOOPBACK, free_port, run_command, start_server, stop_server
from seeding import Seeded, seed
from sqlalchemy import text
from sqlalchemy.engine import make_url

from telehealth.db.engine import build_engine
from telehealth.scheduling.slots import SlotTime

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
MAX_CLIENTS, MAX_BOOKINGS = 500, 20_000
REASON = "Ho kéo dài hai tuần, sốt nhẹ về chiều"


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    backend: str
    server: str
    result: LoadResult


def main() -> int:
    """Parse arguments, run every backend asked for, print the table."""
    args = _parser().parse_args()
    counts_ok = 1 <= args.bookings <= MAX_BOOKINGS and 0 <= args.warmup <= MAX_BOOKINGS
    if not (1 <= args.clients <= MAX_CLIENTS and counts_ok and 0 < args.max_seconds <= 3600):
        print(
            f"--clients 1..{MAX_CLIENTS}, --bookings 1..{MAX_BOOKINGS}, "
            f"--warmup 0..{MAX_BOOKINGS}, --max-seconds up to 3600",
            file=sys.stderr,
        )
        return 2
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(machine_note())
    rows: list[Row] = []
    for backend in backends:
        rows += asyncio.run(bench_backend(backend, args))
    print(machine_note())
    print(render_table(rows, args))
    return 0 if all(set(r.result.statuses) == {201} for r in rows) else 1


def machine_note() -> str:
    """Cores, load and a CPU yardstick, so numbers from a busy machine are recognisable."""
    best = min(_timed_loop() for _ in range(5))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} cores, load average {load}, sum(range(1e6)) {best:.0f} ms"


def _timed_loop() -> float:
    started = time.perf_counter()
    sum(range(1_000_000))
    return (time.perf_counter() - started) * 1000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=20, help="concurrent HTTP clients")
    parser.add_argument("--bookings", type=int, default=1000, help="bookings per server")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured bookings first")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="deadline per run")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server to use")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each telehealth run")
    return parser


async def bench_backend(backend: str, args: argparse.Namespace) -> list[Row]:
    """Seed one fresh database, then load the real server and the baseline in turn."""
    per_server = args.warmup + args.bookings
    with tempfile.TemporaryDirectory(prefix=f"bench-{backend}-") as tmp:
        work = Path(tmp)
        async with fresh_database(backend, args.pg_url, work) as url:
            print(f"[{backend}] seeding {args.clients} patients, {2 * per_server} slots")
            seeded = await seed(url, patients=args.clients, slots=2 * per_server)
            ours, theirs = seeded.slots[:per_server], seeded.slots[per_server:]
            telehealth_calls = [_api_call(seeded, i, s) for i, s in enumerate(ours)]
            baseline_calls = [_baseline_call(seeded, i, s) for i, s in enumerate(theirs)]
            argv = _telehealth_argv(args, backend)
            telehealth = await _measure(
                backend, "telehealth", argv, url, work, telehealth_calls, args
            )
            baseline = await _measure(
                backend, "baseline", _baseline_argv(url), url, work, baseline_calls, args
            )
    return [Row(backend, "telehealth", telehealth), Row(backend, "baseline", baseline)]


@asynccontextmanager
async def fresh_database(backend: str, pg_url: str, work: Path) -> AsyncIterator[str]:
    """A migrated, empty database for one backend; a PostgreSQL one is dropped after."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{work / 'bench.sqlite3'}"
        await _migrate(url, work)
        yield url
        return
    server = make_url(pg_url).set(drivername="postgresql+asyncpg")
    name = f"telehealth_bench_{uuid.uuid4().hex[:10]}"
    await _admin(server.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"')
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        await _migrate(url, work)
        yield url
    finally:
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        await _admin(server.render_as_string(hide_password=False), drop)


async def _admin(server_url: str, statement: str) -> None:
    engine = build_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _migrate(url: str, work: Path) -> None:
    argv = [sys.executable, "-m", "telehealth", "db", "upgrade"]
    await run_command(argv, _server_env(url, work), "telehealth db upgrade")


def _server_env(url: str, work: Path) -> dict[str, str]:
    data_dir = work / "data"
    data_dir.mkdir(exist_ok=True)
    return {
        "TELEHEALTH_DATABASE_URL": url,
        "TELEHEALTH_DATA_DIR": str(data_dir),
        "TELEHEALTH_SECRET_KEY": "bench-secret-key-not-for-production",
        "TELEHEALTH_OUTBOX_ENABLED": "false",
    }


def _telehealth_argv(args: argparse.Namespace, backend: str) -> list[str]:
    argv = [sys.executable]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        argv += ["-m", "cProfile", "-o", str(args.profile / f"telehealth-{backend}.prof")]
    return [*argv, "-m", "telehealth", "serve", "--host", LOOPBACK]


def _baseline_argv(url: str) -> list[str]:
    script = str(BENCH_DIR / "baseline_server.py")
    return [sys.executable, script, "--database-url", url, "--host", LOOPBACK]


async def _measure(
    backend: str,
    server: str,
    argv: list[str],
    url: str,
    work: Path,
    calls: list[Call],
    args: argparse.Namespace,
) -> LoadResult:
    port = free_port()
    log = work / f"{server}.log"
    ready = "/readyz" if server == "telehealth" else "/healthz"
    name, env = f"{server} ({backend})", _server_env(url, work)
    process = await start_server(name, [*argv, "--port", str(port)], env, port, log, ready)
    try:
        warmup, measured = calls[: args.warmup], calls[args.warmup :]
        await run_load(process.base_url, warmup, args.clients, args.max_seconds)
        print(f"[{backend}] {server}: {len(measured)} bookings, {args.clients} clients")
        cpu_before = process.cpu_seconds()
        result = await run_load(process.base_url, measured, args.clients, args.max_seconds)
        cpu_after = process.cpu_seconds()
        if cpu_before is not None and cpu_after is not None:
            result.server_cpu = cpu_after - cpu_before
    finally:
        await stop_server(process)
    for status, sample in result.samples.items():
        print(f"[{backend}] {server}: unexpected {status}: {sample}", file=sys.stderr)
    return result


def _api_call(seeded: Seeded, n: int, slot: SlotTime) -> Call:
    patient = seeded.patients[n % len(seeded.patients)]
    return Call(
        "/api/v1/appointments",
        {"slot_id": seeded.slot_id(slot), "mode": "video", "reason": REASON},
        {"Authorization": f"Bearer {patient.token}"},
    )


def _baseline_call(seeded: Seeded, n: int, slot: SlotTime) -> Call:
    patient = seeded.patients[n % len(seeded.patients)]
    body = {
        "practitioner_id": seeded.practitioner_id,
        "patient_id": patient.patient_id,
        "facility_id": seeded.facility_id,
        "slot_id": seeded.slot_id(slot),
        "start_at": slot.start.isoformat(),
        "end_at": slot.end.isoformat(),
        "mode": "video",
        "reason": REASON,
        "booked_by": patient.user_id,
    }
    # The same header rides along so both servers read the same bytes; the baseline ignores it.
    return Call("/book", body, {"Authorization": f"Bearer {patient.token}"})


def render_table(rows: list[Row], args: argparse.Namespace) -> str:
    """The result table, with telehealth/baseline ratios per backend."""
    head = f"{'backend':<11}{'server':<12}{'ok':>7}{'other':>7}{'book/s':>9}{'p50 ms':>9}"
    lines = [
        f"clients={args.clients} bookings={args.bookings} warmup={args.warmup}",
        head + f"{'p99 ms':>9}{'cpu ms/bk':>11}",
    ]
    for row in rows:
        r = row.result
        other = sum(r.statuses.values()) - r.ok
        lines.append(
            f"{row.backend:<11}{row.server:<12}{r.ok:>7}{other:>7}{r.per_second:>9.1f}"
            f"{r.percentile(50):>9.1f}{r.percentile(99):>9.1f}{r.cpu_ms_per_booking:>11.1f}"
        )
    for backend in dict.fromkeys(r.backend for r in rows):
        ours, base = (_result(rows, backend, server) for server in ("telehealth", "baseline"))
        lines.append(
            f"{backend}: telehealth/baseline throughput {_ratio(ours.per_second, base.per_second)}"
            f", p50 latency {_ratio(ours.percentile(50), base.percentile(50))}"
            f", p99 latency {_ratio(ours.percentile(99), base.percentile(99))}"
            f", server CPU per booking {_ratio(ours.cpu_ms_per_booking, base.cpu_ms_per_booking)}"
        )
    return "\n".join(lines)


def _result(rows: list[Row], backend: str, server: str) -> LoadResult:
    return next(r.result for r in rows if (r.backend, r.server) == (backend, server))


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and not (math.isnan(a) or math.isnan(b)) else "n/a"


if __name__ == "__main__":
    raise SystemExit(main())
