"""Real `telehealth` processes for end-to-end and browser tests: a free port, a clean
environment, one-shot commands, `serve` nodes, a throwaway PostgreSQL database, and the
stage of the crash tests (a local SMTP server and SMS gateway, the demo network, an engine
on the server's database)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from telehealth.db.engine import build_engine
from tests.support import databases
from tests.support.outbox import Mailbox, SmsGateway

DEMO_PASSWORD = "outbox-crash-test"
SENDER = "Telehealth <no-reply@telehealth.test>"
SMS_TOKEN = "e2e-gateway-token"
SECRET_KEY = "e2e-secret-key-not-for-production"
# Generous: a cold start imports aiortc and friends, and CI machines are shared.
START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def telehealth_env(**settings: str) -> dict[str, str]:
    """This environment without any TELEHEALTH_* variable, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEHEALTH_")}
    env.update({f"TELEHEALTH_{name}": value for name, value in settings.items()})
    env["PYTHONIOENCODING"] = "utf-8"
    return env


async def telehealth(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run one `python -m telehealth` command to completion; returns its output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "telehealth",
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def start_serve(env: dict[str, str], cwd: Path, log_path: Path) -> asyncio.subprocess.Process:
    """Start `python -m telehealth serve`, both output streams going to `log_path`."""
    with log_path.open("wb") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "telehealth",
            "serve",
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )


@dataclass
class Node:
    """A running `python -m telehealth serve` process."""

    process: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        """The server's URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait_healthy(self, http: aiohttp.ClientSession) -> None:
        """Poll /healthz until it answers 200; fail if the process exits or time runs out."""
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while True:
                    if self.process.returncode is not None:
                        raise AssertionError(f"serve exited before answering:\n{self.log}")
                    with suppress(aiohttp.ClientError):
                        async with http.get(f"{self.base_url}/healthz") as resp:
                            if resp.status == 200:
                                return
                    await asyncio.sleep(0.05)
        except TimeoutError:
            message = f"serve did not answer in {START_TIMEOUT} s:\n{self.log}"
            raise AssertionError(message) from None

    async def crash(self) -> None:
        """SIGKILL: no cleanup, no shutdown hooks, as a power cut or the OOM killer."""
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL


@asynccontextmanager
async def serve(env: dict[str, str], cwd: Path, **settings: str) -> AsyncIterator[Node]:
    """Start `python -m telehealth serve` on a free port; the process never outlives the
    block."""
    port = free_port()
    extra = {f"TELEHEALTH_{k}": v for k, v in settings.items()}
    log_path = cwd / f"serve-{port}.log"
    process = await start_serve({**env, **extra, "TELEHEALTH_PORT": str(port)}, cwd, log_path)
    try:
        yield Node(process, port, log_path)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[str | None]:
    """None for SQLite (the server makes its file in its data directory); for PostgreSQL
    the URL of a new, empty database, dropped afterwards."""
    if backend == "sqlite":
        yield None
        return
    server = databases.postgres_url()
    assert server is not None
    name = f"telehealth_e2e_{uuid.uuid4().hex[:10]}"
    await on_server(server, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        await on_server(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def on_server(server_url: str, statement: str) -> None:
    """Run one statement on the PostgreSQL server outside a transaction (CREATE DATABASE
    cannot run inside one)."""
    engine = build_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


class DemoApi:
    """The HTTP calls the demo network's users make, against whichever node is running."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.base_url = ""
        self.tokens: dict[str, str] = {}

    async def call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        """One authenticated request; fails the test on an unexpected status."""
        if who not in self.tokens:
            credentials = {"username": who, "password": DEMO_PASSWORD}
            async with self.http.post(
                f"{self.base_url}/api/v1/auth/token", json=credentials
            ) as resp:
                assert resp.status == 200, await resp.text()
                self.tokens[who] = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        async with self.http.request(
            method, f"{self.base_url}{path}", headers=headers, **kwargs
        ) as resp:
            assert resp.status < 300, f"{method} {path}: {resp.status} {await resp.text()}"
            return await resp.json()


@dataclass
class Stage:
    """What a crash test runs against: the environment of its `serve` processes, the
    messages they send, and an engine on their database to look in."""

    env: dict[str, str]
    cwd: Path
    http: aiohttp.ClientSession
    engine: AsyncEngine
    mailbox: Mailbox
    gateway: SmsGateway
    api: DemoApi

    @asynccontextmanager
    async def serve(self, **settings: str) -> AsyncIterator[Node]:
        """A `serve` process of the stage (with these extra settings) that answers /healthz;
        `api` calls it until the next one starts."""
        async with serve(self.env, self.cwd, **settings) as node:
            await node.wait_healthy(self.http)
            self.api.base_url = node.base_url
            yield node


@asynccontextmanager
async def crash_stage(backend: str, cwd: Path, **settings: str) -> AsyncIterator[Stage]:
    """A local SMTP server and SMS gateway, the demo network in a database of `backend`
    (SQLite in `cwd/data`, or a fresh PostgreSQL database), and the `serve` environment
    pointing at them, plus the given settings; everything is gone after the block."""
    async with AsyncExitStack() as stack:
        mailbox, gateway = Mailbox(), SmsGateway()
        await mailbox.start()
        stack.push_async_callback(mailbox.stop)
        await gateway.start()
        stack.push_async_callback(gateway.stop)
        database_url = await stack.enter_async_context(fresh_database(backend))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        data_dir = cwd / "data"
        stage_settings = {
            "DATA_DIR": str(data_dir),
            "SECRET_KEY": SECRET_KEY,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(mailbox.port),
            "SMTP_FROM": SENDER,
            "SMS_WEBHOOK_URL": gateway.url,
            "SMS_WEBHOOK_TOKEN": SMS_TOKEN,
        }
        if database_url is not None:
            stage_settings["DATABASE_URL"] = database_url
        env = telehealth_env(**{**stage_settings, **settings})
        if database_url is not None:
            await telehealth(env, cwd, "db", "upgrade")
        await telehealth(env, cwd, "demo", "--password", DEMO_PASSWORD)
        engine = build_engine(
            database_url or f"sqlite+aiosqlite:///{data_dir / 'telehealth.sqlite3'}"
        )
        stack.push_async_callback(engine.dispose)
        yield Stage(env, cwd, http, engine, mailbox, gateway, DemoApi(http))
