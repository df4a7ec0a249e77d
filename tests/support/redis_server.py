"""The Redis server of the multi-node tests (`TELEHEALTH_TEST_REDIS_URL`, set by `.ci/run`):
with CI=true a missing or silent server fails the test; elsewhere the test is skipped with
the reason."""

from __future__ import annotations

import os
import uuid

import pytest
from redis import asyncio as aioredis
from redis.exceptions import RedisError

REDIS_ENV = "TELEHEALTH_TEST_REDIS_URL"


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


async def redis_url() -> str:
    """The test Redis server's URL, once it has answered a PING."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        _missing(f"{REDIS_ENV} is not set (e.g. redis://127.0.0.1:6379/0)")
        raise AssertionError("unreachable")
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        if not await client.ping():
            _missing(f"Redis at {url} did not answer PING")
    except (RedisError, OSError) as error:
        _missing(f"Redis at {url} does not answer: {error}")
    finally:
        await client.aclose()
    return url


def private_channel() -> str:
    """A Pub/Sub channel of one test's nodes alone. Pub/Sub ignores the database number,
    so test runs sharing one Redis (CI jobs, colleagues' worktrees) are kept apart by the
    channel (`TELEHEALTH_REDIS_CHANNEL`)."""
    return f"telehealth-test-{uuid.uuid4().hex}"
