"""The audit digest: a stable function of every field of a row except its own hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telehealth.auth.audit import GENESIS_HASH, event_digest
from telehealth.auth.models import AuditEvent

# Pinned: a change to the canonical form would make every stored chain fail to verify,
# so it must be a deliberate decision (with a migration that re-anchors), never a side effect.
# The value was computed separately as the SHA-256 of the row's sorted, compact UTF-8 JSON.
PINNED_DIGEST = "d91cd292ecbc1737dd68cb7779dd9cde7dbb4348de44fda9a3cd571ee7ce6295"


def event(**changes: Any) -> AuditEvent:
    """One audit row built in memory, with `changes` applied."""
    fields: dict[str, Any] = {
        "seq": 7,
        "id": "5b0f3a52-3d4e-4c1f-9a47-1f2b8c6d9e01",
        "at": datetime(2025, 3, 14, 2, 30, 15, 123456, tzinfo=UTC),
        "actor_id": "0c7d4f9e-8a21-4b3c-9d5e-6f7a8b9c0d1e",
        "action": "patient.read",
        "object_type": "patient",
        "object_id": "9e8d7c6b-5a49-4838-a726-150413f2e1d0",
        "client_address": "203.0.113.7",
        "request_id": "c3f1e2d4a5b6978812345678",
        "details": {"facility_id": "TYT-NAMCHA", "note": "Lò Thị Én"},
        "prev_hash": "ab" * 32,
        "hash": "",
    }
    fields.update(changes)
    return AuditEvent(**fields)


def test_the_digest_is_a_sha256_hex_string_pinned_for_a_known_row() -> None:
    digest = event_digest(event())

    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert digest == PINNED_DIGEST


def test_equal_rows_built_separately_have_the_same_digest() -> None:
    assert event_digest(event()) == event_digest(event())


def test_the_key_order_of_details_does_not_matter() -> None:
    forward = event(details={"a": 1, "b": [1, 2], "c": {"x": "y", "z": None}})
    backward = event(details={"c": {"z": None, "x": "y"}, "b": [1, 2], "a": 1})

    assert event_digest(forward) == event_digest(backward)


def test_the_row_s_own_hash_is_not_part_of_its_digest() -> None:
    assert event_digest(event(hash="ff" * 32)) == event_digest(event(hash=""))


CHANGES: dict[str, Any] = {
    "seq": 8,
    "id": "5b0f3a52-3d4e-4c1f-9a47-1f2b8c6d9e02",
    "at": datetime(2025, 3, 14, 2, 30, 15, 123457, tzinfo=UTC),
    "actor_id": None,
    "action": "patient.list",
    "object_type": "user",
    "object_id": None,
    "client_address": "203.0.113.8",
    "request_id": None,
    "client_request_id": "chosen-by-the-client",
    "details": {"facility_id": "TYT-NAMCHA", "note": "Lò Thị En"},
    "prev_hash": GENESIS_HASH,
}


def test_every_column_but_the_hash_is_covered_below() -> None:
    # A new column left out of the digest could be edited without verify noticing.
    assert set(CHANGES) == set(AuditEvent.__table__.columns.keys()) - {"hash"}


@pytest.mark.parametrize(("field", "value"), CHANGES.items(), ids=list(CHANGES))
def test_changing_any_field_changes_the_digest(field: str, value: Any) -> None:
    assert event_digest(event(**{field: value})) != event_digest(event())


@pytest.mark.parametrize(
    "details",
    [
        {"facility_id": "TYT-NAMCHA", "note": "Lò Thị Én", "extra": True},
        {"facility_id": "TYT-NAMCHA"},
        {"facility_id": "TYT-NAMCHA", "note": ["Lò Thị Én"]},
        {"facility_id": "TYT-NAMCHA", "note": "Lò Thị Én "},
        {},
    ],
    ids=["key-added", "key-removed", "type-changed", "whitespace", "emptied"],
)
def test_changing_details_in_any_way_changes_the_digest(details: dict[str, Any]) -> None:
    assert event_digest(event(details=details)) != event_digest(event())


def test_a_second_later_changes_the_digest() -> None:
    later = event()
    later.at = later.at + timedelta(seconds=1)

    assert event_digest(later) != event_digest(event())


def test_rehashing_an_edited_row_breaks_the_link_from_the_next_one() -> None:
    first = event(seq=1, prev_hash=GENESIS_HASH)
    first.hash = event_digest(first)
    second = event(seq=2, id="5b0f3a52-3d4e-4c1f-9a47-1f2b8c6d9e03", prev_hash=first.hash)
    second.hash = event_digest(second)

    first.details = {"edited": True}
    assert event_digest(first) != first.hash
    first.hash = event_digest(first)

    assert second.prev_hash != first.hash
