"""Clients that vanish or crawl: a client that drops in the middle of its body is no
server error, and one that sends its headers or body too slowly is cut off."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from telehealth.app import create_app
from telehealth.config import ClientTimeouts, Settings
from telehealth.views import edge_server
from tests.support import files
from tests.support.consults import file_consult
from tests.support.network import Network, build_network


async def raw_request(port: int, head: bytes) -> asyncio.StreamWriter:
    """Open a connection to the server on `port` and send `head`; the caller goes on."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    return writer


async def access_line(caplog: pytest.LogCaptureFixture, path: str) -> logging.LogRecord:
    """The access-log record of the request to `path`, once the server has written it."""
    for _ in range(100):
        for record in caplog.records:
            if record.name == "telehealth.http" and getattr(record, "path", None) == path:
                return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"no access-log line for {path}")


async def serve(settings: Settings) -> AsyncIterator[int]:
    """The port of the app served as `telehealth serve` serves it (aiohttp's test server
    differs: it cancels the handler of a client that leaves)."""
    runner = await edge_server.start(create_app(settings), "127.0.0.1", 0)
    yield runner.addresses[0][1]
    await runner.cleanup()


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[int]:
    """The app, served as in production."""
    async for port in serve(settings):
        yield port


@pytest.fixture
async def served_impatient(settings: Settings) -> AsyncIterator[int]:
    """The app, served as in production, waiting HEADER_SECONDS for headers."""
    quick = settings.with_overrides(client_timeouts=ClientTimeouts(header_seconds=HEADER_SECONDS))
    async for port in serve(quick):
        yield port


async def test_a_client_that_drops_mid_body_is_no_server_error(
    served: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The body is promised, half sent, and the connection closed: the server notes a
    client that went away, logs no unhandled error and counts no 500."""
    caplog.set_level(logging.INFO)
    targets = (
        ("/api/v1/auth/token", "application/json", ""),
        ("/login", "application/x-www-form-urlencoded", ""),
    )
    await drop_mid_body(served, caplog, targets)


async def test_a_client_that_drops_mid_body_is_no_server_error_when_cancelled(
    network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    """The same with handler cancellation (aiohttp's test server), signed in."""
    cid = (await file_consult(network))["id"]
    bearer = (await network.headers("doctor_a"))["Authorization"]
    caplog.set_level(logging.INFO)
    targets = (
        ("/api/v1/auth/token", "application/json", ""),
        (f"/api/v1/consults/{cid}/amend", "application/json", bearer),
        (f"/api/v1/consults/{cid}/attachments", "multipart/form-data; boundary=b", bearer),
    )
    assert network.client.port is not None
    await drop_mid_body(network.client.port, caplog, targets)


async def drop_mid_body(
    port: int,
    caplog: pytest.LogCaptureFixture,
    targets: tuple[tuple[str, str, str], ...],
) -> None:
    for path, content_type, authorization in targets:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: 100000\r\n"
            + (f"Authorization: {authorization}\r\n" if authorization else "")
            + "\r\n"
        ).encode()
        writer = await raw_request(port, head + b'{"username": "do')
        await asyncio.sleep(0.2)
        writer.close()
        record = await access_line(caplog, path)
        assert getattr(record, "status", None) != 500, path
    unhandled = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not unhandled, [r.getMessage() for r in unhandled]
    async with aiohttp.ClientSession() as session:
        metrics = await (await session.get(f"http://127.0.0.1:{port}/metrics")).text()
    assert 'status="500"' not in metrics


BODY_SECONDS = 1.0
HEADER_SECONDS = 1.0
MIN_RATE = 4096


@pytest.fixture
async def impatient(aiohttp_client: Any, settings: Settings) -> Network:
    """The network on an app that waits BODY_SECONDS for a body, and then wants an upload
    to have come at MIN_RATE bytes a second."""
    quick = settings.with_overrides(
        client_timeouts=ClientTimeouts(body_seconds=BODY_SECONDS, upload_min_rate=MIN_RATE)
    )
    client = await aiohttp_client(create_app(quick))
    return await build_network(client, quick)


async def drip(port: int, head: bytes, every: float, limit: float) -> tuple[bytes, float]:
    """Send `head`, then one byte every `every` seconds until the server answers (or
    `limit` passes); the answer's first bytes and when they came."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    try:
        while time.monotonic() - started < limit:
            try:
                answer = await asyncio.wait_for(reader.read(200), every)
            except TimeoutError:
                writer.write(b"x")
                await writer.drain()
                continue
            return answer, time.monotonic() - started
        return b"", limit
    finally:
        writer.close()


@pytest.mark.parametrize("kind", ["token", "upload"])
async def test_a_body_that_crawls_in_is_cut_off(impatient: Network, kind: str) -> None:
    """One byte every 0.3 s: the token endpoint gives up after BODY_SECONDS, an upload as
    soon as it has fallen below MIN_RATE after that; 408 and the connection closed."""
    port = impatient.client.port
    assert port is not None
    if kind == "token":
        path, content_type, auth = "/api/v1/auth/token", "application/json", ""
    else:
        cid = (await file_consult(impatient))["id"]
        path = f"/api/v1/consults/{cid}/attachments"
        content_type = "multipart/form-data; boundary=b"
        auth = (await impatient.headers("doctor_a"))["Authorization"]
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
        "Content-Length: 100000\r\n" + (f"Authorization: {auth}\r\n" if auth else "") + "\r\n"
    ).encode()
    answer, after = await drip(port, head, every=0.3, limit=10 * BODY_SECONDS)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert after < 4 * BODY_SECONDS


async def test_an_upload_at_a_steady_rate_is_not_cut_off(impatient: Network) -> None:
    """A slow but steady link (twice MIN_RATE) keeps going past BODY_SECONDS."""
    cid = (await file_consult(impatient))["id"]
    data = files.pdf() + b"%" + b"x" * (3 * MIN_RATE) + b"\n%%EOF\n"

    async def steady() -> AsyncIterator[bytes]:
        for start in range(0, len(data), MIN_RATE // 2):
            yield data[start : start + MIN_RATE // 2]
            await asyncio.sleep(0.25)

    form = aiohttp.FormData()
    form.add_field("file", steady(), filename="slow.pdf", content_type="application/pdf")
    started = time.monotonic()
    resp = await impatient.client.post(
        f"/api/v1/consults/{cid}/attachments",
        data=form,
        headers=await impatient.headers("doctor_a"),
    )
    assert resp.status == 201, await resp.text()
    assert time.monotonic() - started > BODY_SECONDS


async def test_headers_that_crawl_in_are_cut_off(served_impatient: int) -> None:
    """A request line, then one header byte every 0.3 s: the connection is closed once
    HEADER_SECONDS have passed since it opened."""
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
    answer, after = await drip(served_impatient, head, every=0.3, limit=10 * HEADER_SECONDS)
    assert answer == b"", answer  # closed without an answer
    assert after < 4 * HEADER_SECONDS
