"""Running the `telehealth` command as a real process, for tests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 120.0


@dataclass(frozen=True)
class CliResult:
    """What one run of the command printed, and how it exited."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """Both streams, for messages that may go to either."""
        return self.stdout + self.stderr


def cli_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a CLI process: only the given TELEHEALTH_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEHEALTH_")}
    env.update(
        TELEHEALTH_DATA_DIR=str(data_dir),
        TELEHEALTH_SECRET_KEY="cli-test-secret-not-for-production",
        PYTHONIOENCODING="utf-8",
    )
    if database_url is not None:
        env["TELEHEALTH_DATABASE_URL"] = database_url
    return env


async def run_cli(env: Mapping[str, str], *args: str, stdin: str | None = None) -> CliResult:
    """Run `python -m telehealth ARGS` to completion (killed after CLI_TIMEOUT seconds)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "telehealth",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        cwd=PROJECT_ROOT,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), CLI_TIMEOUT
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"telehealth {' '.join(args)} ran over {CLI_TIMEOUT} s") from None
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())
