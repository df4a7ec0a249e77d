"""The attachment store sweeps what a crashed upload left, and only that."""

from __future__ import annotations

import os
import time
from pathlib import Path

from telehealth.consults.blobs import BlobStore


def test_sweep_removes_stale_unfinished_files_and_keeps_young_ones(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "attachments")
    assert store.sweep(3600) == 0  # nothing uploaded yet: no tmp directory at all
    store.tmp.mkdir(parents=True)
    stale, young = store.tmp / "upload-stale", store.tmp / "upload-young"
    stale.write_bytes(b"half a file")
    young.write_bytes(b"an upload in flight")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    kept = store.path("ab" * 32)
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"kept")

    assert store.sweep(3600) == 1
    assert not stale.exists()
    assert young.exists()
    assert kept.exists()
