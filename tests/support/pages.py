"""Server-rendered pages as a browser uses them, for tests: sign in with the form, open a
page, send a form with the anti-forgery token of the page it came from."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from telehealth import keys
from tests.support.network import PASSWORD, USERS, Network

CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
INLINE_SCRIPT_RE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", re.IGNORECASE)
STYLE_RE = re.compile(r"<style|\sstyle\s*=", re.IGNORECASE)


async def with_every_token(network: Network) -> Network:
    """The network with every API token fetched before a browser holds a cookie (a token
    request that carries the cookie but no Origin is refused as cross-site)."""
    for username in [*USERS, "patient_self"]:
        await network.headers(username)
    return network


def origin(client: TestClient[Any, Any]) -> dict[str, str]:
    """The Origin header a same-site browser sends with a form."""
    return {"Origin": client.app[keys.SETTINGS].public_url}


async def browse_as(net: Network, username: str) -> None:
    """A fresh browser signed in with the sign-in form."""
    net.client.session.cookie_jar.clear()
    resp = await net.client.post(
        "/login",
        data={"username": username, "password": PASSWORD},
        headers=net.origin,
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()


async def page(net: Network, path: str, status: int = 200) -> str:
    """GET a page and return its HTML after checking the status."""
    resp = await net.client.get(path, allow_redirects=False)
    text = await resp.text()
    assert resp.status == status, (path, resp.status, text[:3000])
    assert resp.content_type == "text/html"
    return text


def csrf_of(html: str) -> str:
    """The anti-forgery token printed in a page's forms."""
    match = CSRF_RE.search(html)
    assert match is not None
    return match.group(1)


async def submit(net: Network, path: str, html: str, data: Any) -> ClientResponse:
    """POST a form as the browser does, with the token of the page it came from."""
    fields = list(data.items()) if isinstance(data, dict) else list(data)
    return await net.client.post(
        path,
        data=[("csrf_token", csrf_of(html)), *fields],
        headers=net.origin,
        allow_redirects=False,
    )


async def submitted(net: Network, path: str, html: str, data: Any) -> str:
    """Submit a form that must succeed; returns where it redirects."""
    resp = await submit(net, path, html, data)
    assert resp.status == 303, (resp.status, (await resp.text())[:3000])
    return resp.headers["Location"]
