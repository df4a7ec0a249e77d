"""Driving the real audit sequencer from a test, on the test's own engine."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from telehealth.auth.sequencer import AuditSequencer
from telehealth.config import AuditSettings, RoomSettings
from telehealth.db.engine import build_sessionmaker

# The node id of the test settings: the test app's own sequencer holds the lease under it.
TEST_NODE = RoomSettings().node_id


async def chain_now(engine: AsyncEngine, holder: str = TEST_NODE) -> int:
    """Chain every committed, unchained audit row now, as the app's sequencer would."""
    return await AuditSequencer(build_sessionmaker(engine), AuditSettings(), holder).drain()
