"""Fixtures of the browser tests: one headless Chromium and one seeded `telehealth serve`
process for the run, fresh browser windows (own cookies) per test. Tests share the server,
so each works on records of its own (a new appointment, a new consult).

Everything runs on the session's event loop (Playwright's objects belong to the loop that
made them); each module says so with `pytestmark = pytest.mark.asyncio(loop_scope="session")`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect

from tests.support.browser import (
    LAUNCH_ARGS,
    STEP_TIMEOUT_MS,
    Browsing,
    LiveServer,
    choose_language,
    chromium_executable,
    live_server,
    sign_in,
)
from tests.support.crawl import (
    CRAWL_START,
    CRAWLED_USERS,
    PHONE,
    Crawl,
    add_records_to_show,
    crawl,
)

expect.set_options(timeout=STEP_TIMEOUT_MS)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium (Debian's), closed at the end of the run."""
    executable = chromium_executable()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """A real server on a free loopback port, on a fresh SQLite copy with the test network."""
    async with live_server(tmp_path_factory.mktemp("browser-server"), sqlite_template) as live:
        yield live


@pytest_asyncio.fixture(loop_scope="session")
async def browsing(browser: Browser, server: LiveServer) -> AsyncIterator[Browsing]:
    """The test's browser windows; a JS error, a CSP violation, a failed request or a server
    error in any of them fails the test."""
    windows = Browsing(browser, server)
    try:
        yield windows
    finally:
        problems = await windows.close()
    if problems:
        pytest.fail("the pages were broken:\n" + "\n".join(problems), pytrace=False)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def crawls(browser: Browser, server: LiveServer) -> dict[tuple[str, str], Crawl]:
    """Every role's pages at phone size, in Vietnamese and in English, crawled once for the
    layout and language tests; the records they show (a consult with files, visits booked
    and cancelled) are made first."""
    await add_records_to_show(server)
    windows = Browsing(browser, server)
    windows.watch.expect_failure("/no-such-page")  # the crawl asks for it: a 404 page
    # The call page asks to join on opening: refused while the visit's room is not open.
    windows.watch.expect_failure("/join")
    results: dict[tuple[str, str], Crawl] = {}
    try:
        for username in CRAWLED_USERS:
            # Choosing a language is saved on the account: Vietnamese last, as the other
            # tests expect these users.
            for lang in ("en", "vi"):
                page = await windows.page(locale=f"{lang}-VN", viewport=PHONE)
                try:
                    await sign_in(page, username)
                    await choose_language(page, lang)
                    results[username, lang] = await crawl(page, username, CRAWL_START)
                except Exception as exc:
                    raise AssertionError(f"crawling as {username} in {lang}: {page.url}") from exc
                await page.context.close()
    finally:
        problems = await windows.close()
    if problems:
        pytest.fail("the pages were broken:\n" + "\n".join(problems), pytrace=False)
    return results
