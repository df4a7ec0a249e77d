"""The consult baseline: a bare aiohttp server with the least work a queue listing and an
upload need, for `bench/consults.py` to put beside the real server.

`GET /queue` runs one SELECT of the same rows the specialty queue shows (open requests of
the given specialties, for a hub hospital or the given facility, or named to the given
practitioner; by deadline) and returns their id, status and due_at as JSON. It uses the
app's engine (`telehealth.db.engine.build_engine`: same driver, pool, WAL) through
SQLAlchemy Core, in a read-only transaction (a deferred BEGIN on SQLite, READ ONLY on
PostgreSQL). No auth, no viewer, no names, no rendering.

`POST /upload` streams the multipart part `file` to a temporary file in `--upload-dir`,
hashing it with SHA-256 as it comes, fsyncs it and answers its digest and size. No auth,
no access check, no type check, no row, no rename into a store.

    python bench/support_consults_baseline.py --database-url URL --upload-dir DIR --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

from aiohttp import BodyPartReader, web
from baseline_server import ENGINE, bare_app
from sqlalchemy import and_, or_, select

from telehealth.consults.models import OPEN_STATUSES, ConsultRequest
from telehealth.db.engine import READ_ONLY_OPTIONS

UPLOAD_DIR = web.AppKey("upload_dir", Path)
TABLE = ConsultRequest.__table__
OPEN = [s.value for s in OPEN_STATUSES]
# The same chunk size as the app's blob store reads with (consults/blobs.py).
CHUNK_BYTES = 256 * 1024


async def queue(request: web.Request) -> web.Response:
    """The open requests of `specialty` (repeatable) at a hub or at `facility`, or named
    to `practitioner`, by deadline, at most `limit`."""
    q = request.query
    c = TABLE.c
    for_specialty = and_(
        c.specialty_code.in_(q.getall("specialty")),
        or_(c.target_facility_id.is_(None), c.target_facility_id == q["facility"]),
    )
    stmt = (
        select(c.id, c.status, c.due_at)
        .where(
            c.status.in_(OPEN), or_(for_specialty, c.target_practitioner_id == q["practitioner"])
        )
        .order_by(c.due_at, c.id)
        .limit(int(q.get("limit", "100")))
    )
    async with request.app[ENGINE].connect() as conn:
        conn = await conn.execution_options(**READ_ONLY_OPTIONS)
        rows = (await conn.execute(stmt)).all()
    items = [
        {"id": r.id, "status": r.status, "due_at": r.due_at.isoformat() if r.due_at else None}
        for r in rows
    ]
    return web.json_response({"items": items})


async def upload(request: web.Request) -> web.Response:
    """Stream the part `file` to disk with its SHA-256; fsync; answer digest and size."""
    reader = await request.multipart()
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != "file":
        return web.json_response({"code": "no_file_part"}, status=400)
    fd, name = tempfile.mkstemp(dir=request.app[UPLOAD_DIR], prefix="upload-")
    digest, size = hashlib.sha256(), 0
    with os.fdopen(fd, "wb") as fh:
        while chunk := await part.read_chunk(CHUNK_BYTES):
            digest.update(chunk)
            fh.write(chunk)
            size += len(chunk)
        fh.flush()
        await asyncio.to_thread(os.fsync, fh.fileno())
    return web.json_response({"sha256": digest.hexdigest(), "size": size, "path": name}, status=201)


def create_baseline_app(database_url: str, upload_dir: Path) -> web.Application:
    """The bare consults app: one engine, the queue, the upload and /healthz."""
    upload_dir.mkdir(parents=True, exist_ok=True)
    app = bare_app(database_url)
    app[UPLOAD_DIR] = upload_dir
    app.router.add_get("/queue", queue)
    app.router.add_post("/upload", upload)
    return app


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--upload-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(
        create_baseline_app(args.database_url, args.upload_dir),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
