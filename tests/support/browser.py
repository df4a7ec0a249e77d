"""Browser tests: a real `telehealth serve` process seeded with the test network, headless
Chromium driven by Playwright, and a watch that fails a test on any broken page."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Response,
    ViewportSize,
)

from telehealth.app import create_app
from telehealth.config import PasswordPolicy, Settings
from tests.support import databases
from tests.support.network import PASSWORD, build_network
from tests.support.processes import Node, free_port, start_serve, telehealth_env
from tests.support.scheduling import open_every_day

CHROMIUM_ENV = "TELEHEALTH_TEST_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Headless, no sandbox (CI runs as root), and nothing that would reach past loopback.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET_KEY = "browser-test-secret-not-for-production"
# The pages are seeded with fast hashes; the server itself keeps its production settings.
FAST_PASSWORDS = PasswordPolicy(time_cost=1, memory_cost_kib=8, parallelism=1)
OPEN_PRACTITIONERS = ("doctor_a", "doctor_b", "specialist")
STOP_TIMEOUT = 10.0
DEFAULT_VIEWPORT: ViewportSize = {"width": 1280, "height": 720}  # Playwright's own default
# Playwright waits this long (ms) for an element or a navigation before failing the test.
STEP_TIMEOUT_MS = 10_000


def chromium_executable() -> str:
    """Debian's Chromium (or $TELEHEALTH_TEST_CHROMIUM). Missing: a failure in CI or when
    the variable names it, a skip with the reason on a developer machine."""
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    reason = (
        f"headless Chromium not found at {path}: install it (apt-get install chromium) "
        f"or point {CHROMIUM_ENV} at it"
    )
    if os.environ.get("CI") == "true" or os.environ.get(CHROMIUM_ENV):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Seed:
    """Ids of the test network (tests/support/network.py) the server was loaded with."""

    facilities: dict[str, str]
    users: dict[str, str]
    patients: dict[str, str]
    practitioners: dict[str, str]
    password: str = PASSWORD


async def seed_network(settings: Settings) -> Seed:
    """Load the test network through the real services and API, in this process, into the
    database the server will then open; doctors and the specialist get slots every day."""
    async with TestClient(TestServer(create_app(settings))) as client:
        net = await build_network(client, settings)
        practitioners = {name: await open_every_day(net, name) for name in OPEN_PRACTITIONERS}
    return Seed(net.facilities, net.users, net.patients, practitioners)


@dataclass
class LiveServer(Node):
    """A running `telehealth serve` process and the network it was seeded with."""

    seed: Seed = field(kw_only=True)
    tokens: dict[str, str] = field(default_factory=dict)

    def log_size(self) -> int:
        """How far the log has grown, to look only at what a test caused."""
        return self.log_path.stat().st_size

    def errors_since(self, offset: int) -> list[str]:
        """Log lines at level error or worse (an unhandled exception is one) after `offset`."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            lines = log.read().decode("utf-8", errors="replace").splitlines()
        return [line for line in lines if _is_error(line)]

    async def api(self, username: str, method: str, path: str, body: Any = None) -> Any:
        """Call the JSON API as a network user (bearer token), to set up what a test does
        not click through; anything but a 2xx answer fails the test."""
        async with aiohttp.ClientSession(base_url=self.base_url) as http:
            if username not in self.tokens:
                credentials = {"username": username, "password": self.seed.password}
                async with http.post("/api/v1/auth/token", json=credentials) as resp:
                    assert resp.status == 200, await resp.text()
                    self.tokens[username] = (await resp.json())["access_token"]
            headers = {"Authorization": f"Bearer {self.tokens[username]}"}
            async with http.request(method, path, json=body, headers=headers) as resp:
                assert resp.status < 300, f"{method} {path}: {resp.status} {await resp.text()}"
                return await resp.json() if resp.content_length != 0 else None


def _is_error(line: str) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return "Traceback" in line
    return isinstance(entry, dict) and entry.get("level") in {"error", "critical"}


def server_env(settings: Settings, port: int) -> dict[str, str]:
    """This environment without TELEHEALTH_* variables, plus the server's own settings."""
    return telehealth_env(
        DATA_DIR=str(settings.data_dir),
        DATABASE_URL=settings.database_url,
        SECRET_KEY=SECRET_KEY,
        HOST="127.0.0.1",
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
    )


@asynccontextmanager
async def live_server(directory: Path, template: Path) -> AsyncIterator[LiveServer]:
    """A seeded SQLite copy served by `python -m telehealth serve`; the process never
    outlives the block, whatever happens in it."""
    data_dir = directory / "data"
    data_dir.mkdir()
    settings = Settings(
        database_url=databases.sqlite_copy(template, directory),
        data_dir=data_dir,
        secret_key=SECRET_KEY,
        passwords=FAST_PASSWORDS,
    )
    seed = await seed_network(settings)
    port = free_port()
    log_path = directory / "serve.log"
    process = await start_serve(server_env(settings, port), directory, log_path)
    try:
        server = LiveServer(process, port, log_path, seed=seed)
        async with aiohttp.ClientSession() as http:
            await server.wait_healthy(http)
        yield server
    finally:
        await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()


@dataclass
class PageWatch:
    """Everything that went wrong in the pages of one test: JS errors, console errors (a CSP
    violation is one), failed requests and server errors. A test that causes a failure on
    purpose names the URL first (`expect_failure`)."""

    problems: list[str] = field(default_factory=list)
    # The pages name an SVG icon, which the browser fetches last and abandons (ERR_ABORTED)
    # when the page navigates on; it may still ask for /favicon.ico, which is not served.
    expected: list[str] = field(default_factory=lambda: ["/favicon.ico", "/static/favicon.svg"])

    def attach(self, page: Page) -> None:
        """Listen to one page."""
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"JS error on {page.url}: {exc}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def expect_failure(self, url_part: str) -> None:
        """Requests whose URL contains `url_part` may fail: the test makes them fail."""
        self.expected.append(url_part)

    def _expected(self, url: str) -> bool:
        return any(part in url for part in self.expected)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if self._expected(where) or self._expected(message.text):
            return
        self.problems.append(f"console error ({where}): {message.text}")

    def _request_failed(self, request: Request) -> None:
        if not self._expected(request.url):
            failure = request.failure or "failed"
            self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 500 and not self._expected(response.url):
            self.problems.append(f"server error {response.status}: {response.url}")


class Browsing:
    """The browser windows of one test: each `page()` is a fresh profile (its own cookies),
    so several users can be signed in at once."""

    def __init__(self, browser: Browser, server: LiveServer) -> None:
        self.browser = browser
        self.server = server
        self.watch = PageWatch()
        self._contexts: list[BrowserContext] = []
        self._log_offset = server.log_size()

    async def page(self, locale: str = "vi-VN", viewport: ViewportSize | None = None) -> Page:
        """A new window on the server, watched, in the given browser language and window
        size."""
        context = await self.browser.new_context(
            base_url=self.server.base_url,
            locale=locale,
            timezone_id="Asia/Ho_Chi_Minh",
            service_workers="block",
            viewport=viewport or DEFAULT_VIEWPORT,
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        self._contexts.append(context)
        page = await context.new_page()
        self.watch.attach(page)
        return page

    async def close(self) -> list[str]:
        """Close every window; returns what went wrong in them and on the server."""
        for context in self._contexts:
            with suppress(Error):
                await context.close()
        errors = self.server.errors_since(self._log_offset)
        return self.watch.problems + [f"server logged: {line}" for line in errors]


async def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form (in whatever language the page is in) and land home."""
    await page.goto("/login")
    await page.locator("#f-username").fill(username)
    await page.locator("#f-password").fill(password)
    async with page.expect_navigation() as navigation:
        await page.locator("form[action='/login'] button[type=submit]").click()
    response = await navigation.value
    status = response.status if response is not None else None
    if status != 200 or page.url.endswith("/login"):
        said = await page.locator("main").inner_text()
        raise AssertionError(f"sign-in as {username} refused ({status}): {said.strip()}")


async def sign_out(page: Page) -> None:
    """Press the header's sign-out button."""
    async with page.expect_navigation():
        await page.locator("form.signout button[type=submit]").click()


async def choose_language(page: Page, lang: str) -> None:
    """Press the header's language button (`vi` or `en`)."""
    async with page.expect_navigation():
        await page.locator(f"form.langs button[value='{lang}']").click()
