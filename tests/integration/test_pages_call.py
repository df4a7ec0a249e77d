"""The call page and the socket.io client it loads: rendered for a signed-in party in both
languages without inline script or style, and the vendor URL serving the npm-installed
client (or saying what to run when it is missing)."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from telehealth.views import vendor
from tests.support.network import Network
from tests.support.pages import INLINE_SCRIPT_RE, STYLE_RE, browse_as, page

ROOM = "6f1c2a9e-0b7d-4d3e-9a55-3c1f4b2e8d10"
WORDS_RE = re.compile(r"data-words='([^']*)'")


def require_socket_io() -> None:
    """The client comes from `npm ci --prefix web`; without it: fail in CI, skip elsewhere."""
    if vendor.socket_io_installed():
        return
    reason = f"web/node_modules/socket.io-client is missing: run `{vendor.INSTALL_COMMAND}`"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def page_words(html: str) -> dict[str, str]:
    """The translated strings the page hands to its scripts."""
    match = WORDS_RE.search(html)
    assert match is not None
    words = json.loads(match.group(1).replace("&#39;", "'"))
    assert isinstance(words, dict)
    return words


async def test_call_page_renders_in_vietnamese_and_english(network: Network) -> None:
    await browse_as(network, "patient_self")
    vi = await page(network, f"/rooms/{ROOM}")
    en = await page(network, f"/rooms/{ROOM}?lang=en")
    assert '<html lang="vi">' in vi
    assert "Phòng khám trực tuyến" in vi
    assert page_words(vi)["waiting"] == "Đang chờ bác sĩ cho bạn vào."
    assert '<html lang="en">' in en
    assert page_words(en)["waiting"] == "Waiting for the doctor to admit you."
    for html in (vi, en):
        assert f'data-room-id="{ROOM}"' in html
        assert 'id="local-video"' in html
        assert 'id="remote-video"' in html
        assert 'data-testid="outcome-form"' in html
        assert "/static/js/call/main.js" in html
        assert not INLINE_SCRIPT_RE.search(html)
        assert not STYLE_RE.search(html)
        assert "innerHTML" not in html


async def test_call_page_needs_a_sign_in_and_a_well_formed_id(network: Network) -> None:
    network.client.session.cookie_jar.clear()
    resp = await network.client.get(f"/rooms/{ROOM}", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/login?next=")
    await browse_as(network, "doctor_a")
    await page(network, "/rooms/not%20an%20id", status=404)


async def test_call_page_says_so_when_the_client_is_missing(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vendor, "socket_io_installed", lambda: False)
    await browse_as(network, "doctor_a")
    html = await page(network, f"/rooms/{ROOM}?lang=en")
    assert 'data-vendor-ready="false"' in html
    assert "the server is missing its browser library" in html
    assert "npm ci --prefix web" in html


async def test_vendor_url_serves_the_installed_socket_io_client(
    client: TestClient[Any, Any],
) -> None:
    require_socket_io()
    resp = await client.get(vendor.SOCKET_IO_URL)
    assert resp.status == 200
    assert resp.content_type in {"text/javascript", "application/javascript"}
    body = await resp.text()
    assert "Socket.IO v4." in body[:200]
    assert re.search(r"export\s*\{[^}]*\bio\b", body)  # the ESM build, with `io`
    assert resp.headers["Cache-Control"] == "no-cache"
    assert "ETag" in resp.headers
    # The version the page gets is the one web/package.json pins.
    pinned = json.loads((vendor.NODE_MODULES.parent / "package.json").read_text())
    assert f"Socket.IO v{pinned['dependencies']['socket.io-client']}" in body[:200]


async def test_vendor_url_names_the_install_command_when_missing(
    aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = web.Application()
    vendor.setup(app, dist=tmp_path / "absent")
    with caplog.at_level(logging.WARNING, logger="telehealth.web"):
        client = await aiohttp_client(app)
    resp = await client.get(vendor.SOCKET_IO_URL)
    assert resp.status == 404
    assert "npm ci --prefix web" in await resp.text()
    assert any("npm ci --prefix web" in r.getMessage() for r in caplog.records)
