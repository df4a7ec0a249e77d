"""Server processes under test: start on a free loopback port, wait until ready, stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A running server: its process, where it listens and where its output goes."""

    name: str
    process: asyncio.subprocess.Process
    base_url: str
    log_path: Path

    def cpu_seconds(self) -> float | None:
        """User plus system CPU time the server has used so far (Linux; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # After the command name: state is field 3, utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's output, to explain a failure."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def run_command(argv: list[str], env: dict[str, str], what: str) -> None:
    """Run a short command (migrations) to completion; fail loudly with its output."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{out.decode(errors='replace')}")


async def start_server(
    name: str, argv: list[str], env: dict[str, str], port: int, log_path: Path, ready_path: str
) -> ServerProcess:
    """Start `argv` with its output in `log_path`; return once `ready_path` answers 200."""
    log = log_path.open("wb")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, env={**os.environ, **env}, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    finally:
        log.close()  # the child has its own copy of the descriptor
    server = ServerProcess(name, proc, f"http://{LOOPBACK}:{port}", log_path)
    try:
        await _wait_ready(server, ready_path)
    except BaseException:
        await stop_server(server)
        raise
    return server


async def _wait_ready(server: ServerProcess, path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.process.returncode is not None:
                break
            try:
                async with session.get(server.base_url + path) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} did not become ready:\n{server.log_tail()}")


async def stop_server(server: ServerProcess) -> None:
    """SIGINT first (a graceful stop that also lets cProfile write), SIGKILL if it hangs."""
    if server.process.returncode is not None:
        return
    server.process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(server.process.wait(), timeout=STOP_TIMEOUT)
    except TimeoutError:
        server.process.kill()
        await server.process.wait()
        print(f"warning: {server.name} had to be killed", file=sys.stderr)
