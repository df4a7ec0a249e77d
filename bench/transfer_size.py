"""Bytes on the wire for what a phone loads: pages, the stylesheet and scripts with and
without gzip, and an attachment's thumbnail beside its original (the in-run baseline is
the same answer uncompressed, or the original file).

    .venv/bin/python bench/transfer_size.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telehealth.app import create_app
from telehealth.config import Settings
from tests.integration.test_attachment_thumbnails import photograph
from tests.support import databases
from tests.support.browser import FAST_PASSWORDS
from tests.support.consults import attach, file_consult
from tests.support.network import build_network
from tests.support.pages import browse_as

PAGES = ("/", "/consults?view=queue", "/static/css/app.css", "/static/js/uploads.js")


async def wire(client: TestClient, path: str, encoding: str) -> int:  # type: ignore[type-arg]
    """Bytes of the answer's body as sent, for one Accept-Encoding."""
    async with (
        aiohttp.ClientSession(auto_decompress=False, cookie_jar=client.session.cookie_jar) as raw,
        raw.get(client.make_url(path), headers={"Accept-Encoding": encoding}) as r,
    ):
        assert r.status == 200, (path, r.status)
        return len(await r.read())


async def main(root: Path, template: Path) -> None:
    data = root / "data"
    data.mkdir()
    settings = Settings(
        database_url=databases.sqlite_copy(template, root),
        data_dir=data,
        secret_key="bench" * 8,
        passwords=FAST_PASSWORDS,
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        net = await build_network(client, settings)
        consult = await file_consult(net)
        original = photograph()
        photo = await attach(net, "doctor_a", consult["id"], original, "anh.jpg")
        await browse_as(net, "doctor_a")
        rows = []
        for path in (*PAGES, f"/consults/{consult['id']}"):
            plain = await wire(client, path, "identity")
            packed = await wire(client, path, "gzip, deflate, br")
            rows.append((path.split("?")[0][:40], plain, packed))
        thumb = await wire(client, photo["thumbnail_url"], "identity")
        rows.append(("photo 2400x1800: thumbnail vs original", len(original), thumb))
    print(f"| {'what':40} | {'baseline B':>10} | {'sent B':>8} | {'ratio':>6} |")
    print(f"| {'-' * 40} | {'-' * 10}: | {'-' * 8}: | {'-' * 6}: |")
    for what, base, sent in rows:
        print(f"| {what:40} | {base:>10} | {sent:>8} | {sent / base:>6.3f} |")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        # Migrated outside the loop (Alembic's env runs a loop of its own).
        asyncio.run(main(Path(tmp), databases.sqlite_template(Path(tmp))))
