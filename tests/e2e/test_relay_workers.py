"""A relay worker killed with SIGKILL in the middle of a call: the owning process carries
on, the room is told, a new worker takes over and a republish restores the media. The
scenario (`relay_worker_scenario`) runs inside a network namespace with only `lo`."""

from __future__ import annotations

import json

from tests.support.netns import run_isolated

VIDEO_FRAMES = 30
AUDIO_FRAMES = 50
SCENARIO_SECONDS = 260.0
# The pipe closes as the worker dies: the room is told at once, before a new worker starts.
TOLD_WITHIN = 5.0


async def test_a_killed_relay_worker_is_replaced_and_a_republish_restores_media() -> None:
    run = await run_isolated(
        "tests.e2e.relay_worker_scenario",
        str(VIDEO_FRAMES),
        str(AUDIO_FRAMES),
        seconds=SCENARIO_SECONDS,
    )
    result = run.result
    assert run.returncode == 0, f"{result.get('error')}\n{run.stderr}"
    print(json.dumps(result))

    assert result["first"]["video"] >= VIDEO_FRAMES, result
    # Everyone in the room (peer None) is told, with the code clients act on.
    assert result["notices"] == [["room-1", None, "relay-restart", "relay_unavailable"]], result
    assert result["told_seconds"] < TOLD_WITHIN, result
    assert result["replaced"] is True, result
    assert result["restarts"] == 1, result
    assert result["again"]["video"] >= VIDEO_FRAMES, result
    assert result["again"]["audio"] >= AUDIO_FRAMES, result
    # The new worker carries the republished room: one publisher, one subscriber, 2 streams.
    assert result["worker_stats"] == [
        {**result["worker_stats"][0], "rooms": 1, "peers": 2, "forwarded": 2}
    ], result
    assert result["children_left"] == 0, result
