"""Transactions and SQL statements of one booking (winner and 409 loser), counted in-process.

    python bench/statements.py [--database-url URL]

A fresh SQLite file (or the given, already migrated, empty database) is seeded through the
app's services; the app then runs in this process on a loopback port and two patients book
the same slot. The counts come from the engine's `begin` and `before_cursor_execute` events,
so they do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from procs import LOOPBACK, free_port, run_command
from seeding import FAST_PASSWORDS, Seeded, seed
from sqlalchemy import Engine, event

from telehealth.app import create_app
from telehealth.config import AuditSettings, Settings


def main() -> int:
    """Count one winner's and one loser's transactions and statements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a migrated, empty database (default: SQLite)")
    parser.add_argument("--verbose", action="store_true", help="print every statement")
    args = parser.parse_args()
    asyncio.run(_run(args.database_url, args.verbose))
    return 0


async def _run(database_url: str | None, verbose: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-statements-") as tmp:
        work = Path(tmp)
        url = database_url or f"sqlite+aiosqlite:///{work / 'bench.sqlite3'}"
        if database_url is None:
            env = {"TELEHEALTH_DATABASE_URL": url, "TELEHEALTH_SECRET_KEY": "bench-only"}
            argv = [sys.executable, "-m", "telehealth", "db", "upgrade"]
            await run_command(argv, env, "telehealth db upgrade")
        seeded = await seed(url, patients=2, slots=2)
        settings = Settings(
            database_url=url, data_dir=work, secret_key="bench-only", passwords=FAST_PASSWORDS
        )
        await _book_twice(settings, seeded, verbose)


async def _book_twice(settings: Settings, seeded: Seeded, verbose: bool) -> None:
    # The audit sequencer chains once at start, then not again during the bookings: what
    # is counted is the request's own work (chaining is batched, off the request path).
    quiet = settings.with_overrides(audit=AuditSettings(chain_seconds=3600))
    runner = web.AppRunner(create_app(quiet))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, LOOPBACK, port).start()
    try:
        # Every engine: on SQLite reads run on a reader pool beside the writer's engine.
        engine = Engine
        counts: Counter[str] = Counter()

        def begin(_connection: Any) -> None:
            counts.update(["transactions"])
            if verbose:
                print("  -- transaction")

        event.listen(engine, "begin", begin)

        def statement(_c: Any, _cur: Any, sql: str, *_a: Any) -> None:
            if not sql.startswith("BEGIN"):
                counts.update(["statements", sql.split()[0].upper()])
            if verbose:
                print("   ", " ".join(sql.split())[:100])

        event.listen(engine, "before_cursor_execute", statement)
        await asyncio.sleep(0.5)  # let the app's start-up background queries pass
        slot = seeded.slot_id(seeded.slots[0])
        async with aiohttp.ClientSession(f"http://{LOOPBACK}:{port}") as http:
            for patient, role in zip(seeded.patients, ("winner", "loser"), strict=True):
                counts.clear()
                body = {"slot_id": slot, "mode": "video", "reason": "Ho kéo dài"}
                headers = {"Authorization": f"Bearer {patient.token}"}
                async with http.post("/api/v1/appointments", json=body, headers=headers) as r:
                    status = r.status
                print(f"{role} ({status}): {dict(sorted(counts.items()))}")
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
