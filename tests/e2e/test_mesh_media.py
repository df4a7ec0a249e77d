"""Media with real aiortc peers on loopback: a doctor and a patient meet in a visit's room
through `/rtc` (join, waiting room, admit, offer and answer by `signal`) and each decodes
the other's video and audio. The call runs in `mesh_call_scenario` inside a network
namespace with only `lo`, so every candidate and packet stays on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

from tests.support.netns import run_isolated

# At 30 fps and 50 audio frames a second both are about a second of media: a call that
# works gets them within the scenario's few seconds even on a busy machine; one that does
# not (no media, one direction only, audio only) gets none.
VIDEO_FRAMES = 30
AUDIO_FRAMES = 50
# The scenario bounds itself to about a minute; this only catches a hang of the process.
SCENARIO_SECONDS = 150.0
OTHER = {"doctor": "patient", "patient": "doctor"}


def _kinds(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == kind]


async def test_doctor_and_patient_see_and_hear_each_other_through_the_room() -> None:
    run = await run_isolated(
        "tests.e2e.mesh_call_scenario",
        "--video",
        str(VIDEO_FRAMES),
        "--audio",
        str(AUDIO_FRAMES),
        seconds=SCENARIO_SECONDS,
    )
    result = run.result
    assert run.returncode == 0, f"{result.get('error')}\n{run.stderr}"
    assert result["ok"] is True, result
    summary = {k: v for k, v in result.items() if k != "events"}
    print(json.dumps(summary))  # frame counts and timings, shown with -rP or on failure

    for side, other in OTHER.items():
        got = result[side]
        assert got["connection_state"] == "connected", summary
        assert got["ice_connection_state"] in {"connected", "completed"}, summary
        assert got["received"]["video"] >= VIDEO_FRAMES, summary
        assert got["received"]["audio"] >= AUDIO_FRAMES, summary
        # What arrived is the other side's card and tone (not its own, not silence). The
        # card's moving white bar lifts its mean colour a little.
        sent = result[other]["sent"]
        assert got["video"]["size"] == sent["size"], summary
        mean = got["video"]["mean_rgb"]
        assert all(abs(m - c) < 40 for m, c in zip(mean, sent["rgb"], strict=True)), summary
        assert got["audio"]["rms"] > 1000, summary
        assert abs(got["audio"]["peak_hz"] - sent["tone_hz"]) < 10, summary

    events: list[dict[str, Any]] = result["events"]
    doctor, patient = result["doctor"]["peer_id"], result["patient"]["peer_id"]
    joined = {e["peer_id"]: e["details"]["role"] for e in _kinds(events, "joined")}
    assert joined == {doctor: "host", patient: "patient"}, events
    assert [e["peer_id"] for e in _kinds(events, "admitted")] == [patient], events
    assert len(_kinds(events, "live")) == 1, events
    media = {e["peer_id"]: e["details"] for e in _kinds(events, "media")}
    assert media == {doctor: {"state": "connected"}, patient: {"state": "connected"}}, events
    quality = {e["peer_id"]: e["details"] for e in _kinds(events, "quality")}
    assert set(quality) == {doctor, patient}, events
    for side, other in OTHER.items():
        peer = result[side]["peer_id"]
        reported = {k: v for k, v in result["quality"][side].items() if k != "kind"}
        assert quality[peer] == reported, events
        size = result[other]["sent"]["size"]
        assert [quality[peer]["width"], quality[peer]["height"]] == size, events
        assert quality[peer]["fps"] > 0, events
    # In the order things happened: both in, the patient admitted, the room live, then media.
    order = [e["kind"] for e in events]
    assert order.index("joined") < order.index("admitted") < order.index("live"), order
    assert order.index("live") < order.index("media") < order.index("quality"), order
