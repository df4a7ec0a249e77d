"""A live consult through the real app, `/rtc` and a relay worker process: the specialist
is offered the doctor's tracks as soon as the doctor publishes, decodes the doctor's card
and tone, and everything of the relay is gone once both have left. The scenario
(`relay_call_scenario`) runs inside a network namespace with only `lo`."""

from __future__ import annotations

import json

from tests.support.netns import run_isolated

VIDEO_FRAMES = 30
AUDIO_FRAMES = 50
SCENARIO_SECONDS = 210.0
COLOUR = (30, 60, 200)  # what relay_engine_scenario's publisher sends
TONE_HZ = 440.0
SCREEN = (200, 50, 40)  # relay_call_scenario's shared screen


async def test_a_consults_specialist_receives_the_doctors_media_through_the_relay() -> None:
    targets = (str(VIDEO_FRAMES), str(AUDIO_FRAMES))
    run = await run_isolated("tests.e2e.relay_call_scenario", *targets, seconds=SCENARIO_SECONDS)
    result = run.result
    assert run.returncode == 0, f"{result.get('error')}\n{run.stderr}"
    print(json.dumps(result))

    assert result["first_subscribe"] == {"sdp": None, "type": None, "tracks": []}, result
    doctor = result["peer_left"]
    sources = {(t["peer_id"], t["kind"], t["source"]) for t in result["offer_tracks"]}
    assert sources == {(doctor, "video", "camera"), (doctor, "audio", "microphone")}, result
    assert result["received"]["video"] >= VIDEO_FRAMES, result
    assert result["received"]["audio"] >= AUDIO_FRAMES, result
    assert all(abs(m - c) < 40 for m, c in zip(result["video"]["mean_rgb"], COLOUR, strict=True))
    assert abs(result["audio"]["peak_hz"] - TONE_HZ) < 10, result
    assert result["metrics_during"] == {"rooms": 1.0, "peers": 2.0, "forwarded_streams": 2.0}
    # A shared screen: the doctor's second video track, decoded beside the camera.
    with_screen = {(t["kind"], t["source"]) for t in result["offer_tracks_with_screen"]}
    assert with_screen == {("video", "camera"), ("video", "screen"), ("audio", "microphone")}
    camera, screen = sorted(result["screen_colours"])
    assert all(abs(m - c) < 40 for m, c in zip(camera, COLOUR, strict=True)), result
    assert all(abs(m - c) < 40 for m, c in zip(screen, SCREEN, strict=True)), result
    # The doctor left: the specialist is offered nothing more, and told who left.
    assert result["offer_tracks_after_leave"] == [], result
    assert result["metrics_after"] == {"rooms": 0.0, "peers": 0.0, "forwarded_streams": 0.0}
