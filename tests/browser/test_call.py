"""The call page in headless Chromium: a patient and a doctor with fake cameras hold a visit
(waiting room, admit, video both ways, a dropped network and the reconnect, chat, sound
only and back, the outcome), with every
packet on loopback (tests/browser/call_scenario.py, run in a network namespace with only
`lo`). A 360x740 screenshot of the call is kept as an artefact, under
$TELEHEALTH_TEST_ARTIFACTS (or tests/artifacts/)/call-360x740.png."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.test_pages_call import require_socket_io
from tests.support.browser import chromium_executable
from tests.support.netns import ROOT, run_isolated

pytestmark = pytest.mark.asyncio(loop_scope="session")

ARTIFACTS_ENV = "TELEHEALTH_TEST_ARTIFACTS"


def artifacts_dir() -> Path:
    """Where screenshots are kept: $TELEHEALTH_TEST_ARTIFACTS, or tests/artifacts/."""
    return Path(os.environ.get(ARTIFACTS_ENV) or ROOT / "tests" / "artifacts")


async def test_visit_with_video_both_ways_sound_only_and_the_outcome(
    capsys: pytest.CaptureFixture[str],
) -> None:
    chromium_executable()
    require_socket_io()
    shots = artifacts_dir()
    run = await run_isolated("tests.browser.call_scenario", "real", str(shots))
    out = run.result
    with capsys.disabled():
        print(f"\ncall page screenshot (360x740): {out.get('screenshot', shots)}")
    assert "error" not in out, (out.get("error"), out.get("traceback"), out.get("pages"))
    assert run.returncode == 0, run.stderr
    assert out["problems"] == []  # no JS error, CSP violation or failed request
    server = out["server"]

    # The patient waited, was told when the doctor came in, and the doctor admitted them.
    assert "Đang chờ bác sĩ cho vào" in out["patient_waiting_text"]
    assert "Bác sĩ chưa mở buổi khám" in out["patient_waiting_text"]  # not there yet
    assert out["patient_waiting_with_doctor"].startswith("Bác sĩ biết bạn đang ở đây")
    assert out["admit_label"].startswith("Admit ")
    assert out["waiting_since"].startswith("waiting since ")

    # Each sees the other's camera: a size, and frames decoded 1.5 s apart.
    for side in ("patient_sees", "doctor_sees", "doctor_sees_again"):
        assert out[side]["playing"], (side, out[side])
    for side in ("patient_link", "doctor_link"):
        link = out[side]
        assert list(link["connection"].values()) == ["connected"], link
        assert link["cap"] == 500, link  # the sending bitrate cap is applied
        assert link["reports"].get("media") == 1, link
        assert link["errors"] == [], link  # every ack was ok: the server took each event
    # The patient's network dropped for a moment: the page came back, joined again and
    # restarted ICE with an offer of its own (before that, it had only answered).
    assert out["after_reconnect"]["playing"], out["after_reconnect"]
    [restarted] = out["after_reconnect_links"].values()
    assert restarted["answers"] >= 1, restarted
    assert "reconnected" in server["event_kinds"]
    assert out["chat_seen_by_doctor"]

    # Sound only: the camera is released, sound goes on, the doctor sees video paused.
    assert out["audio_only"] == {"sent_video_tracks": 0, "pressed": "true", "audio_tracks": 1}
    assert out["doctor_placeholder"] == "Video paused (sound only)"
    reports = server["audio_only_reports"]
    assert [(r["on"], r["reason"]) for r in reports] == [(True, "user"), (False, "user")]

    # A phone: nothing wider than the screen, every control at least 44 px high.
    assert out["patient_scroll_width"] <= 360
    assert out["small_targets"] == []
    assert out["screenshot_bytes"] > 10_000

    # The outcome is recorded once; the visit ends on both pages.
    assert out["doctor_outcome_status"] == "The outcome is recorded and the visit is closed."
    assert out["patient_end_status"] == "Buổi khám đã kết thúc."
    assert server["state"] == "ended"
    outcome = server["outcome"]
    assert outcome["version"] == 1
    for kind in ("admitted", "media", "ice", "quality", "audio_only", "chat", "outcome_recorded"):
        assert kind in server["event_kinds"], (kind, server["event_kinds"])
    assert outcome["diagnosis"] == {"code": "J02.9", "text": "Viêm họng cấp"}
    assert outcome["disposition"] == "follow_up"
    assert outcome["follow_up"] == "Tái khám sau 1 tuần"
