"""Answers given outside the middlewares look like every other answer: aiohttp's own
400s for requests it cannot parse, the router's 417, Socket.IO's HTTP errors. Each has
the security headers, our `Server` name, and repeats nothing the client sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telehealth.app import create_app
from telehealth.config import Settings
from telehealth.views import edge_server
from telehealth.views.middlewares import SECURITY_HEADERS

MARK = b"<script>mark</script>"
HOST = b"Host: 127.0.0.1\r\n"
MALFORMED = {
    "a header over 8,190 bytes": b"GET /healthz HTTP/1.1\r\n"
    + HOST
    + b"X-Big: "
    + MARK * 400
    + b"\r\n\r\n",
    "too many headers": b"GET /healthz HTTP/1.1\r\n"
    + HOST
    + b"".join(b"X-%d: " % i + MARK + b"\r\n" for i in range(200))
    + b"\r\n",
    "a request line over 8,190 bytes": b"GET /" + MARK * 400 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
    "a malformed method": b"G" + MARK + b"T / HTTP/1.1\r\n" + HOST + b"\r\n",
    "an unknown HTTP version": b"GET /" + MARK + b" HTTP/9.9\r\n" + HOST + b"\r\n",
    "a NUL in a header name": b"GET / HTTP/1.1\r\n" + HOST + b"X\x00Y: " + MARK + b"\r\n\r\n",
}


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[int]:
    """The port of the app served as `telehealth serve` serves it."""
    runner = await edge_server.start(create_app(settings), "127.0.0.1", 0)
    yield runner.addresses[0][1]
    await runner.cleanup()


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer (the server closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def assert_ours(headers: dict[str, str] | Any, body: bytes) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert headers["Server"] == "telehealth"
    assert headers["X-Request-ID"]
    assert b"mark" not in body


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_request_aiohttp_cannot_parse_gets_our_problem(served: int, raw: bytes) -> None:
    status, headers, body = await exchange(served, raw)
    assert status == 400
    assert headers["Content-Type"].startswith("application/problem+json")
    assert_ours(headers, body)
    problem = json.loads(body)
    assert (problem["status"], problem["code"]) == (400, "validation_error")
    assert problem["request_id"] == headers["X-Request-ID"]


async def test_the_served_app_still_answers_well_formed_requests(served: int) -> None:
    status, headers, body = await exchange(
        served, b"GET /healthz HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
    )
    assert status == 200, body
    assert headers["Server"] == "telehealth"


async def test_an_unknown_expect_header_is_not_repeated(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz", headers={"Expect": MARK.decode()})
    assert resp.status == 417
    assert resp.content_type == "application/problem+json"
    assert_ours(resp.headers, await resp.read())


async def test_socket_io_answers_carry_the_edge_headers(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/socket.io/", params={"EIO": "4", "transport": "carrier-pigeon"})
    assert resp.status == 400
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, name
    assert resp.headers["Server"] == "telehealth"
