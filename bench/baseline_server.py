"""The baseline: a bare aiohttp server whose one handler INSERTs one appointment row.

Same table (`appointments`, with its partial unique index and foreign keys), same driver
(aiosqlite or asyncpg) and the same engine as the app (`telehealth.db.engine.build_engine`:
pool, WAL, BEGIN IMMEDIATE, synchronous=FULL), through SQLAlchemy Core. Nothing else: no
auth, no validation, no slot arithmetic, no holds, no outbox, no audit, no rendering.

    python bench/baseline_server.py --database-url URL --port PORT
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import cast

from aiohttp import web
from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from telehealth.db.engine import build_engine
from telehealth.scheduling.models import Appointment

ENGINE = web.AppKey("engine", AsyncEngine)
# The mapped class's table (typed as its base, FromClause, by SQLAlchemy).
TABLE = cast(Table, Appointment.__table__)
ROW_FIELDS = ("practitioner_id", "patient_id", "facility_id", "slot_id", "mode", "reason")


async def book(request: web.Request) -> web.Response:
    """INSERT the row the client sent; 409 if the slot is already taken."""
    body = await request.json()
    now = datetime.now(UTC)
    row = {name: body[name] for name in ROW_FIELDS}
    row.update(
        id=str(uuid.uuid4()),
        start_at=datetime.fromisoformat(body["start_at"]),
        end_at=datetime.fromisoformat(body["end_at"]),
        status="booked",
        booked_by=body["booked_by"],
        version=1,
        created_at=now,
        updated_at=now,
    )
    try:
        async with request.app[ENGINE].begin() as conn:
            await conn.execute(insert(TABLE).values(row))
    except IntegrityError:
        return web.json_response({"code": "slot_taken"}, status=409)
    return web.json_response({"id": row["id"]}, status=201)


async def healthz(request: web.Request) -> web.Response:
    """The process answers."""
    return web.json_response({"status": "ok"})


def bare_app(database_url: str) -> web.Application:
    """An app with one engine (opened at startup, disposed at shutdown) and /healthz:
    what every baseline server starts from."""

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        app[ENGINE] = build_engine(database_url)
        yield
        await app[ENGINE].dispose()

    app = web.Application()
    app.cleanup_ctx.append(engine_ctx)
    app.router.add_get("/healthz", healthz)
    return app


def create_baseline_app(database_url: str) -> web.Application:
    """The bare booking app: one engine, two routes."""
    app = bare_app(database_url)
    app.router.add_post("/book", book)
    return app


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(
        create_baseline_app(args.database_url),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
