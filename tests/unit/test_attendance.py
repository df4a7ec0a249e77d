"""Minutes present from a room's log: reconnects within the window keep one presence, a
drop that never comes back counts up to the drop, a second tab's takeover is no drop,
overlaps are counted once, and the share is clipped to the planned session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telehealth.config import ConfigError, Settings
from telehealth.teaching.attendance import LogEntry, minutes_present, presence_of, share_within
from telehealth.teaching.export import attendance_csv, safe_cell
from telehealth.teaching.schemas import AttendanceOut, AttendeeOut

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=30)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(kind: str, minute: float, tab: str | None = "a", reason: str | None = None) -> LogEntry:
    return LogEntry(kind, at(minute), "p1", "u1", reason=reason, connection=tab)


def minutes(entries: list[LogEntry], now: float = 120) -> float:
    found = presence_of(entries, WINDOW, at(now))
    return round(minutes_present(found["p1"].windows), 3) if "p1" in found else 0.0


def test_a_join_and_a_leave_make_one_window() -> None:
    assert minutes([ev("joined", 0), ev("left", 45, reason="left")]) == 45


def test_a_reconnect_within_the_window_does_not_split_the_presence() -> None:
    log = [
        ev("joined", 0),
        ev("disconnected", 10),
        ev("reconnected", 10.25, tab="b"),
        ev("left", 30, tab="b", reason="left"),
    ]
    found = presence_of(log, WINDOW, at(120))
    assert found["p1"].windows == [(at(0), at(30))]


def test_a_drop_that_never_comes_back_counts_up_to_the_drop() -> None:
    log = [ev("joined", 0), ev("disconnected", 20), ev("left", 20.5, reason="connection_lost")]
    assert minutes(log) == 20


def test_coming_back_after_the_window_is_a_new_presence_without_the_gap() -> None:
    log = [
        ev("joined", 0),
        ev("disconnected", 10),
        ev("left", 10.5, reason="connection_lost"),
        ev("joined", 15, tab="b"),
        ev("left", 25, tab="b", reason="left"),
    ]
    found = presence_of(log, WINDOW, at(120))
    assert found["p1"].windows == [(at(0), at(10)), (at(15), at(25))]
    assert minutes(log) == 20


def test_a_late_reconnect_without_a_left_event_still_leaves_out_the_gap() -> None:
    # The node restarted before the window ran out: no `left`, just a late return.
    log = [ev("joined", 0), ev("disconnected", 10), ev("reconnected", 12, tab="b")]
    found = presence_of(log, WINDOW, at(20))
    assert found["p1"].windows == [(at(0), at(10)), (at(12), at(20))]


def test_a_second_tab_taking_over_is_not_a_drop() -> None:
    # Tab b replaces tab a; a's connection then closes, after b arrived.
    log = [
        ev("joined", 0, tab="a"),
        ev("reconnected", 5, tab="b"),
        ev("disconnected", 5.01, tab="a"),
        ev("ended", 60, tab=None),
    ]
    assert minutes(log) == 60


def test_a_second_tab_arriving_while_present_opens_no_second_window() -> None:
    log = [
        ev("joined", 0),
        LogEntry("joined", at(10), "p1", "u1", connection="x"),
        ev("left", 30, tab="x", reason="left"),
        LogEntry("left", at(40), "p1", "u1", reason="left", connection="a"),
    ]
    found = presence_of(log, WINDOW, at(120))
    assert found["p1"].windows == [(at(0), at(30))]


def test_the_room_ending_closes_every_presence_and_a_drop_counts_to_the_drop() -> None:
    other = [
        LogEntry("joined", at(0), "p2", "u2", connection="z"),
        LogEntry("disconnected", at(50), "p2", "u2", connection="z"),
    ]
    log = [ev("joined", 5), *other, LogEntry("ended", at(55))]
    found = presence_of(log, WINDOW, at(120))
    assert found["p1"].windows == [(at(5), at(55))]
    assert found["p2"].windows == [(at(0), at(50))]


def test_someone_still_in_the_room_is_counted_up_to_now() -> None:
    assert minutes([ev("joined", 0)], now=17) == 17


def test_events_of_other_kinds_and_without_peers_change_nothing() -> None:
    log = [
        ev("joined", 0),
        LogEntry("chat", at(3), "p1", "u1"),
        LogEntry("floor", at(4), "p1", "u1"),
        LogEntry("live", at(5)),
        ev("left", 10, reason="left"),
    ]
    assert minutes(log) == 10


def test_the_share_is_clipped_to_the_planned_session() -> None:
    windows = [(at(-30), at(30)), (at(50), at(90))]
    assert share_within(windows, at(0), at(60)) == pytest.approx(40 / 60)
    assert share_within([(at(-10), at(100))], at(0), at(60)) == 1.0
    assert share_within(windows, at(0), at(0)) == 0.0
    assert share_within([], at(0), at(60)) == 0.0


@pytest.mark.parametrize("text", ["=1+1", "+33", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_cells_that_a_spreadsheet_would_run_are_neutralised(text: str) -> None:
    assert safe_cell(text) == "'" + text
    assert safe_cell("Nguyễn Văn A") == "Nguyễn Văn A"


def test_the_csv_has_a_header_and_one_neutralised_row_per_person() -> None:
    register = AttendanceOut(
        session_id="s1",
        room_id="r1",
        planned_minutes=60,
        certificate_share=0.8,
        items=[
            AttendeeOut(
                user_id="u1",
                full_name='=HYPERLINK("http://x","y")',
                role="trainee",
                minutes=50,
                share=0.833,
                first_joined=at(0),
                last_left=at(50),
                certified=True,
            )
        ],
    )
    lines = attendance_csv(register).split("\r\n")
    assert lines[0].startswith("user_id,full_name,role,minutes,share")
    assert lines[1].startswith('u1,"\'=HYPERLINK(""http://x"",""y"")",trainee,50.0,0.833,')
    assert lines[1].endswith(",yes")


def test_the_certificate_share_is_a_setting_between_0_and_1(tmp_path: Path) -> None:
    env = {"TELEHEALTH_DATA_DIR": str(tmp_path), "TELEHEALTH_SECRET_KEY": "k"}
    assert Settings.from_env(env).teaching.certificate_share == 0.8
    share = {**env, "TELEHEALTH_TEACHING_CERTIFICATE_SHARE": "0.5"}
    assert Settings.from_env(share).teaching.certificate_share == 0.5
    for bad in ("0", "1.5", "most", "nan"):
        with pytest.raises(ConfigError, match="TEACHING_CERTIFICATE_SHARE"):
            Settings.from_env({**env, "TELEHEALTH_TEACHING_CERTIFICATE_SHARE": bad})
