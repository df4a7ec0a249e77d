"""`telehealth attachments check`: every file an attachment names is on disk with its
digest, and files nobody names are found, and removed only once they are old."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from telehealth.config import Settings
from telehealth.consults.blobs import BlobStore
from tests.support import files
from tests.support.cli import cli_env, run_cli
from tests.support.consults import attach, file_consult
from tests.support.network import Network


def orphan(store: BlobStore, content: bytes, age_seconds: float) -> Path:
    """A file in the store's layout that no row names, last changed `age_seconds` ago."""
    digest = hashlib.sha256(content).hexdigest()
    path = store.path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


async def test_a_healthy_store_passes_and_faults_are_named(
    network: Network, settings: Settings, database_url: str
) -> None:
    cid = (await file_consult(network))["id"]
    image = await attach(network, "doctor_a", cid, files.png(), "anh.png")
    document = await attach(network, "doctor_a", cid, files.pdf(), "ket-qua.pdf")
    env = cli_env(settings.data_dir, database_url)

    healthy = await run_cli(env, "attachments", "check")
    assert healthy.code == 0, healthy.output
    # Three files: the image (small enough to be its own preview), its list thumbnail and
    # the PDF.
    assert "3 files checked, 0 missing, 0 damaged; 0 orphans" in healthy.stdout

    store = BlobStore.in_data_dir(settings.data_dir)
    store.path(document["sha256"]).write_bytes(b"%PDF-1.4 altered on disk")
    store.path(image["sha256"]).unlink()
    old = orphan(store, b"left by a failed commit", age_seconds=2 * 3600)
    young = orphan(store, b"an upload still in flight", age_seconds=60)

    broken = await run_cli(env, "attachments", "check")
    assert broken.code == 1, broken.output
    assert f"missing: {image['sha256']}" in broken.stdout
    assert f"damaged (content does not match its SHA-256): {document['sha256']}" in broken.stdout
    assert "1 missing, 1 damaged; 2 orphans (0 removed, 2 kept)" in broken.stdout
    assert old.exists()  # nothing is removed unless asked

    swept = await run_cli(env, "attachments", "check", "--remove-orphans")
    assert "2 orphans (1 removed, 1 kept)" in swept.stdout
    assert not old.exists()
    assert young.exists()
    # Named files are never removed, damaged or not.
    assert store.path(document["sha256"]).exists()


async def test_without_a_schema_the_check_says_what_to_do(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    result = await run_cli(env, "attachments", "check")
    assert result.code == 2
    assert "telehealth db upgrade" in result.stderr
