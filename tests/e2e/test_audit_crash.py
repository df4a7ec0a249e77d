"""A crash between an audit row's insert and its chaining loses nothing: `telehealth serve`
is SIGKILLed with rows still unchained (its sequencer told to wait an hour); the next
`serve` on the same database chains each of them exactly once and `audit verify` passes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from telehealth.auth.models import AuditEvent
from tests.support.processes import Stage, crash_stage, telehealth
from tests.support.rtc import DEMO_DOCTOR, book_demo_visit

NODE_ID = "audit-crash-node"


async def census(engine: AsyncEngine) -> tuple[int, int, list[int]]:
    """All audit rows, the unchained ones, and the chained rows' places in order."""
    async with engine.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(AuditEvent))
        waiting = await conn.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None))
        )
        places = await conn.scalars(
            select(AuditEvent.seq).where(AuditEvent.seq.is_not(None)).order_by(AuditEvent.seq)
        )
        return int(total or 0), int(waiting or 0), [int(p or 0) for p in places.all()]


async def test_rows_unchained_at_sigkill_are_chained_once_after_restart(
    backend: str, tmp_path: Path
) -> None:
    async with asyncio.timeout(300), crash_stage(backend, tmp_path, NODE_ID=NODE_ID) as stage:
        await run_scenario(stage)


async def run_scenario(stage: Stage) -> None:
    """Audited requests, SIGKILL before chaining; restart, wait for the chain, verify."""
    engine = stage.engine
    # An hour between chaining steps: after its first step at start, nothing is chained.
    async with stage.serve(AUDIT_CHAIN_SECONDS="7200") as first:
        await book_demo_visit(stage.api)
        await stage.api.call("GET", "/api/v1/appointments", DEMO_DOCTOR)
        total, waiting, _ = await census(engine)
        assert waiting > 0
        await first.crash()
    assert (await census(engine))[:2] == (total, waiting)

    async with stage.serve(AUDIT_CHAIN_SECONDS="0.2") as second:
        async with asyncio.timeout(60):
            for _ in iter(int, 1):
                if (await census(engine))[1] == 0:
                    break
                await asyncio.sleep(0.1)
        second.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.process.wait(), 20) == 0, second.log
        assert "Traceback" not in second.log, second.log

    total_after, waiting_after, places = await census(engine)
    assert (total_after, waiting_after) == (total, 0)
    assert places == list(range(1, total + 1))
    output = await telehealth(stage.env, stage.cwd, "audit", "verify")
    assert f"audit log: {total} events checked, chain intact" in output
