"""Clients that vanish or crawl: a client that drops in the middle of its body is no
server error, and one that sends its headers or body too slowly is cut off."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from telehealth.app import create_app
from telehealth.config import Settings
from tests.support.consults import file_consult
from tests.support.network import Network


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


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[int]:
    """The port of the app served as `telehealth serve` serves it (aiohttp's test server
    differs: it cancels the handler of a client that leaves)."""
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()


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
