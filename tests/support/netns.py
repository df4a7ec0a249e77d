"""Media tests run inside a network namespace that has only `lo`, so WebRTC candidates and
media stay on 127.0.0.1 (this machine's rule: never target its other addresses).

A test starts a scenario script (server, aiortc peers or Chromium, all in one process tree)
with `run_isolated`; the script prints one JSON line of results, which the test asserts on.
Inside the script, `loopback_only_ice()` limits aioice to 127.0.0.1 (it skips loopback
otherwise), and Chromium needs `--allow-loopback-in-peer-connection`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_TIMEOUT = 180.0


@dataclass(frozen=True)
class ScenarioResult:
    """What a scenario printed: its JSON result line, and its stderr for the failure message."""

    returncode: int
    result: dict[str, Any]
    stderr: str


def unshare_available() -> None:
    """`unshare -n` is needed (root or user namespaces). Missing: a failure in CI, a skip
    with the reason on a developer machine."""
    if shutil.which("unshare") and shutil.which("ip"):
        return
    reason = "media tests need util-linux `unshare` and iproute2 `ip` (a loopback-only netns)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


async def run_isolated(
    module: str, *args: str, env: dict[str, str] | None = None, seconds: float = SCENARIO_TIMEOUT
) -> ScenarioResult:
    """Run `python -m module args...` in a fresh network namespace with only `lo` up."""
    unshare_available()
    command = " ".join(
        ["ip link set lo up && exec", sys.executable, "-m", module, *(f"'{a}'" for a in args)]
    )
    process = await asyncio.create_subprocess_exec(
        "unshare",
        "-n",
        "sh",
        "-c",
        command,
        cwd=ROOT,
        env=env if env is not None else dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        err += b"\n[scenario timed out]"
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    return ScenarioResult(process.returncode or 0, result, err.decode(errors="replace")[-8000:])


def loopback_only_ice() -> None:
    """Make aioice gather host candidates on 127.0.0.1 only (call inside a scenario)."""
    import aioice.ice

    def loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    aioice.ice.get_host_addresses = loopback  # type: ignore[assignment]
