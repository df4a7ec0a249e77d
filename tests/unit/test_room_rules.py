"""Pure rules of live rooms: the state table, who is a party, peer ids, per-connection
budgets, event payloads, and the room settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from telehealth.config import ConfigError, Settings
from telehealth.errors import DomainError, ErrorCode
from telehealth.rooms.models import RoomState
from telehealth.rooms.parties import Parties, PeerRole, peer_id_for
from telehealth.rooms.states import TRANSITIONS, RoomTrigger, ensure_transition, next_state
from telehealth.signalling import schemas as sch
from telehealth.signalling.limits import STRIKES, Budget, ConnectionLimits


def test_a_room_moves_only_along_its_table() -> None:
    assert next_state(RoomState.SCHEDULED, RoomTrigger.OPEN) is RoomState.OPEN
    assert next_state(RoomState.OPEN, RoomTrigger.GO_LIVE) is RoomState.LIVE
    assert next_state(RoomState.LIVE, RoomTrigger.EXPIRE) is RoomState.ENDED
    assert next_state(RoomState.SCHEDULED, RoomTrigger.GO_LIVE) is None
    # Ended is final.
    assert all(state is not RoomState.ENDED for state, _ in TRANSITIONS)
    with pytest.raises(DomainError) as raised:
        ensure_transition(RoomState.ENDED, RoomTrigger.OPEN)
    assert raised.value.code is ErrorCode.INVALID_TRANSITION
    assert "ended" in raised.value.detail


def test_the_host_wins_over_having_booked_for_the_patient() -> None:
    parties = Parties(hosts=frozenset({"doc"}), patient_side=frozenset({"pat", "coord"}))
    assert parties.role_of("doc") is PeerRole.HOST
    assert parties.role_of("coord") is PeerRole.PATIENT
    assert parties.role_of("stranger") is None


def test_peer_ids_are_stable_per_person_and_room() -> None:
    assert peer_id_for("room-1", "user-1") == peer_id_for("room-1", "user-1")
    assert peer_id_for("room-1", "user-1") != peer_id_for("room-2", "user-1")
    assert peer_id_for("room-1", "user-1") != peer_id_for("room-1", "user-2")


def test_a_budget_refills_over_time_and_floods_are_counted() -> None:
    now = [0.0]
    budget = Budget(burst=3, rate=1, clock=lambda: now[0])
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 1.0
    assert budget.take() is True
    limits = ConnectionLimits(clock=lambda: now[0])
    allowed = [limits.allow("signal") for _ in range(40 + STRIKES)]
    assert allowed.count(True) == 40
    assert limits.flooding
    now[0] += 60.0
    assert limits.allow("chat")
    assert not limits.flooding  # the refusals were long ago


def test_chat_has_a_budget_of_its_own() -> None:
    limits = ConnectionLimits(clock=lambda: 0.0)
    assert [limits.allow("chat") for _ in range(6)] == [True] * 5 + [False]
    assert limits.allow("signal")


@pytest.mark.parametrize(
    ("model", "data", "code"),
    [
        (
            sch.Signal,
            {"to": "p1", "type": "offer", "payload": {"type": "answer", "sdp": "v"}},
            ErrorCode.VALIDATION_ERROR,
        ),
        (sch.Signal, {"to": "p1", "type": "candidate", "payload": None}, None),
        (
            sch.Signal,
            {"to": "p1", "type": "offer", "payload": {"type": "offer", "sdp": "v" * 70_000}},
            ErrorCode.PAYLOAD_TOO_LARGE,
        ),
        (sch.Chat, {"text": "  "}, None),
        (sch.Chat, ["text"], ErrorCode.VALIDATION_ERROR),
        (sch.Report, {"kind": "quality", "rtt_ms": float("nan")}, ErrorCode.VALIDATION_ERROR),
        (sch.Report, {"kind": "audio_only", "on": False, "reason": "user"}, None),
        (sch.Empty, None, None),
    ],
)
def test_event_payloads(model: type[sch.Payload], data: object, code: ErrorCode | None) -> None:
    if code is None:
        sch.parse(model, data)
        return
    with pytest.raises(DomainError) as raised:
        sch.parse(model, data)
    assert raised.value.code is code


def test_room_settings_from_the_environment(tmp_path: Path) -> None:
    env = {
        "TELEHEALTH_DATA_DIR": str(tmp_path),
        "TELEHEALTH_TURN_SECRET": "s3cret",
        "TELEHEALTH_TURN_URLS": "turn:turn.example.vn:3478, turns:turn.example.vn:5349",
        "TELEHEALTH_MEDIA_ADDRESSES": "127.0.0.1",
        "TELEHEALTH_ROOM_GRACE_SECONDS": "120",
        "TELEHEALTH_NODE_ID": "node-a",
    }
    rooms = Settings.from_env(env).rooms
    assert rooms.turn_urls == ("turn:turn.example.vn:3478", "turns:turn.example.vn:5349")
    assert rooms.media_addresses == ("127.0.0.1",)
    assert rooms.grace == timedelta(seconds=120)
    assert rooms.node_id == "node-a"
    for bad in (
        {"TELEHEALTH_TURN_SECRET": "only-the-secret"},
        {"TELEHEALTH_MEDIA_ADDRESSES": "eth0"},
        {"TELEHEALTH_JOIN_TOKEN_SECONDS": "0"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env({"TELEHEALTH_DATA_DIR": str(tmp_path), **bad})
