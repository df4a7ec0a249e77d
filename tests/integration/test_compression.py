"""Text answers travel gzipped when the client accepts it: pages, CSS, JS and JSON; not
tiny bodies, byte ranges or files already compressed. A compressed file keeps a (weak)
ETag that still earns a 304, and no page repeats its anti-forgery token."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from telehealth.views.compression import accepts_gzip
from tests.support.network import Network
from tests.support.pages import browse_as, csrf_of

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
PLAIN = {"Accept-Encoding": "identity"}  # aiohttp's client would ask for gzip by itself


@pytest.fixture
async def raw(network: Network) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that shows the bytes on the wire (no decompression), with the network's
    browser cookies."""
    async with aiohttp.ClientSession(
        base_url=network.client.make_url("/"),
        auto_decompress=False,
        cookie_jar=network.client.session.cookie_jar,
    ) as session:
        yield session


async def wire(session: aiohttp.ClientSession, path: str, **headers: str) -> tuple[Any, bytes]:
    async with session.get(path, headers=headers, allow_redirects=False) as resp:
        return resp, await resp.read()


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("GZIP", True),
        ("*", True),
        ("gzip;q=0", False),
        ("deflate, br", False),
        ("", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_with_its_weights(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


async def test_a_page_is_gzipped_and_much_smaller(
    network: Network, raw: aiohttp.ClientSession
) -> None:
    await browse_as(network, "doctor_a")
    plain, plain_body = await wire(raw, "/", **PLAIN)
    packed, packed_body = await wire(raw, "/", **GZIP)
    assert plain.status == packed.status == 200
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert packed.headers["Cache-Control"] == "no-store"
    page = gzip.decompress(packed_body).decode()
    assert "<html" in page
    assert len(packed_body) < 0.5 * len(plain_body), (len(packed_body), len(plain_body))


async def test_static_css_and_js_are_gzipped_with_a_weak_etag_that_earns_a_304(
    raw: aiohttp.ClientSession,
) -> None:
    for path, kind in (
        ("/static/css/app.css", "text/css"),
        ("/static/js/uploads.js", "javascript"),
    ):
        plain, plain_body = await wire(raw, path, **PLAIN)
        packed, packed_body = await wire(raw, path, **GZIP)
        assert kind in packed.headers["Content-Type"]
        assert packed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(packed_body) == plain_body
        assert len(packed_body) < 0.5 * len(plain_body)
        strong = plain.headers["ETag"]
        assert strong.startswith('"')
        assert packed.headers["ETag"] == "W/" + strong
        again, again_body = await wire(
            raw, path, **GZIP, **{"If-None-Match": packed.headers["ETag"]}
        )
        assert again.status == 304
        assert again_body == b""
        stale = {"If-None-Match": '"changed"', "If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}
        changed, changed_body = await wire(raw, path, **GZIP, **stale)
        assert changed.status == 200
        assert changed_body == plain_body  # a revalidation is answered uncompressed


async def test_ranges_tiny_bodies_and_images_go_as_they_are(
    raw: aiohttp.ClientSession,
) -> None:
    part, part_body = await wire(raw, "/static/css/app.css", Range="bytes=0-99", **GZIP)
    assert part.status == 206
    assert "Content-Encoding" not in part.headers
    assert len(part_body) == 100
    tiny, tiny_body = await wire(raw, "/healthz", **GZIP)
    assert tiny.status == 200
    assert len(tiny_body) < 1024
    assert "Content-Encoding" not in tiny.headers
    icon, _ = await wire(raw, "/static/favicon.svg", **GZIP)
    assert icon.status == 200  # an SVG this small is sent as it is
    assert "Content-Encoding" not in icon.headers


async def test_json_is_gzipped(network: Network, raw: aiohttp.ClientSession) -> None:
    resp, body = await wire(raw, "/api/openapi.json", **GZIP)
    assert resp.status == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b"{")


async def test_every_page_carries_a_different_token_that_still_works(network: Network) -> None:
    await browse_as(network, "doctor_a")
    first = csrf_of(await (await network.client.get("/")).text())
    second = csrf_of(await (await network.client.get("/")).text())
    assert first != second
    assert re.fullmatch(r"[0-9a-f]{128}", first)
    assert await choose_language(network, first) == 303
    assert await choose_language(network, first[:64] + second[64:]) == 403  # mixed: forged


async def choose_language(network: Network, token: str) -> int:
    """The status of a language choice sent with `token` as its anti-forgery field."""
    resp = await network.client.post(
        "/language",
        data={"lang": "en", "next": "/", "csrf_token": token},
        headers=network.origin,
        allow_redirects=False,
    )
    return resp.status
