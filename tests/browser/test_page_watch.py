"""The watch on browser pages catches what it is there for: a CSP violation, a JS error and
a failed request each become a problem that fails the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Route

from tests.support.browser import LiveServer, PageWatch

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def watched(browser: Browser, server: LiveServer) -> AsyncIterator[tuple[Page, PageWatch]]:
    """A page with a watch of its own (the `browsing` fixture would fail this test)."""
    context = await browser.new_context(base_url=server.base_url)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    await page.goto("/login")
    assert watch.problems == [], "the sign-in page itself must be clean"
    yield page, watch
    await context.close()


async def test_an_inline_script_is_refused_and_reported(watched: tuple[Page, PageWatch]) -> None:
    page, watch = watched
    async with page.expect_console_message(lambda m: m.type == "error"):
        await page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.ran = true'; document.body.append(s); }"
        )
    assert await page.evaluate("() => window.ran === undefined"), "CSP let an inline script run"
    assert len(watch.problems) == 1
    assert "Content Security Policy" in watch.problems[0]


async def test_an_uncaught_exception_is_reported(watched: tuple[Page, PageWatch]) -> None:
    page, watch = watched
    async with page.expect_event("pageerror"):
        await page.evaluate("() => { setTimeout(() => { throw new Error('boom in page'); }); }")
    assert len(watch.problems) == 1
    assert "boom in page" in watch.problems[0]


async def test_a_failed_request_is_reported_unless_expected(
    watched: tuple[Page, PageWatch],
) -> None:
    page, watch = watched

    async def refuse(route: Route) -> None:
        await route.abort("connectionreset")

    await page.route("**/static/css/*", refuse)
    await page.reload()
    assert any("request failed: GET" in p and "app.css" in p for p in watch.problems)

    watch.problems.clear()
    watch.expect_failure("/static/css/")
    await page.reload()
    assert watch.problems == []
