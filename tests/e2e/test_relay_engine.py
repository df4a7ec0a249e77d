"""The forwarding relay with real aiortc peers on loopback: one publisher, eight
subscribers (the last one joins mid-stream), then the publisher and everyone leave. The
scenario (`relay_engine_scenario`) runs inside a network namespace with only `lo`."""

from __future__ import annotations

import json

from tests.support.netns import run_isolated

SCENARIO = "tests.e2e.relay_engine_scenario"
VIDEO_FRAMES = 30
AUDIO_FRAMES = 50
SCENARIO_SECONDS = 170.0
# A late subscriber waits for the next keyframe; the relay asks the publisher for one at
# once, so it comes within a round trip and an encode. Without the request it would come
# with aiortc's next periodic keyframe, or never (browsers send one only when asked).
LATE_FIRST_FRAME_BOUND = 2.0


async def test_eight_subscribers_decode_a_forwarded_publisher_and_everything_is_torn_down() -> None:
    targets = ("--video", str(VIDEO_FRAMES), "--audio", str(AUDIO_FRAMES))
    run = await run_isolated(SCENARIO, *targets, seconds=SCENARIO_SECONDS)
    result = run.result
    assert run.returncode == 0, f"{result.get('error')}\n{run.stderr}"
    print(json.dumps({k: v for k, v in result.items() if k != "subscribers"}))

    subscribers = result["subscribers"]
    assert len(subscribers) == 8, result
    sent = result["sent"]
    for name, got in subscribers.items():
        assert got["video"] >= VIDEO_FRAMES, (name, got)
        assert got["audio"] >= AUDIO_FRAMES, (name, got)
        # The publisher's card and tone, not silence or a grey picture.
        assert got["video_size"] == [320, 240], (name, got)
        assert all(abs(m - c) < 40 for m, c in zip(got["video_mean_rgb"], sent["rgb"], strict=True))
        assert got["audio_rms"] > 1000, (name, got)
        assert abs(got["audio_peak_hz"] - sent["tone_hz"]) < 10, (name, got)

    assert result["late_first_frame_seconds"] < LATE_FIRST_FRAME_BOUND, result
    # The late subscriber's need was forwarded to the publisher as a PLI.
    during = result["during"]
    assert during["keyframe_requests"] > result["keyframe_requests_before_late"], result
    assert during == {**during, "rooms": 1, "peers": 9, "forwarded": 16}, result

    # The capacity guard: the engine may carry 16 streams; a ninth subscriber is refused.
    assert result["ninth"] == "relay_full", result

    # The publisher left: each subscriber was sent a new offer without its tracks.
    assert result["after_publisher_left"]["forwarded"] == 0, result
    assert set(result["last_offer_tracks"].values()) == {0}, result
    told = {peer for peer, event, _ in result["notified"] if event == "renegotiate"}
    assert told == set(subscribers), result
    # Everyone left: no peer connection, no task of the relay is left.
    assert result["after_all_left"] == {
        "rooms": 0,
        "peers": 0,
        "forwarded": 0,
        "tasks": 0,
        "keyframe_requests": 0,
    }, result
    assert result["media_peers_alive"] == 0, result
    assert result["tasks_left"] == 0, result
