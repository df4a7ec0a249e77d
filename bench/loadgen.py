"""Closed-loop HTTP load: N clients POST prepared requests back to back; per-request latency.

Bounded twice: by the number of requests prepared and by a wall-clock deadline.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

NO_ANSWER = 0  # the status counted when the connection failed or timed out


@dataclass(frozen=True)
class Call:
    """One prepared request."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class LoadResult:
    """What one load run measured."""

    latencies: list[float] = field(default_factory=list)  # seconds, successful calls only
    statuses: Counter[int] = field(default_factory=Counter)
    elapsed: float = 0.0
    samples: dict[int, str] = field(default_factory=dict)  # one body per unexpected status
    server_cpu: float | None = None  # seconds of server CPU during the run, if known

    @property
    def ok(self) -> int:
        """Calls answered 201."""
        return self.statuses[201]

    @property
    def per_second(self) -> float:
        """Successful bookings per second of wall-clock time."""
        return self.ok / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms_per_booking(self) -> float:
        """Server CPU per successful booking, in milliseconds (NaN if unknown)."""
        if self.server_cpu is None or not self.ok:
            return math.nan
        return self.server_cpu / self.ok * 1000

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of successful latencies, in milliseconds."""
        return percentile_ms(self.latencies, q)


def percentile_ms(latencies: list[float], q: float) -> float:
    """Nearest-rank percentile of latencies in seconds, in milliseconds (NaN if none)."""
    if not latencies:
        return math.nan
    ordered = sorted(latencies)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1] * 1000


async def run_load(
    base_url: str, calls: list[Call], clients: int, deadline_seconds: float
) -> LoadResult:
    """Send `calls` with `clients` concurrent connections; stop early at the deadline."""
    result = LoadResult()
    queue = iter(calls)
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=deadline_seconds)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        stop_at = started + deadline_seconds
        await asyncio.gather(*(_client(session, queue, stop_at, result) for _ in range(clients)))
        result.elapsed = time.perf_counter() - started
    return result


async def _client(
    session: aiohttp.ClientSession, queue: Iterator[Call], stop_at: float, result: LoadResult
) -> None:
    # One shared iterator: the event loop is single-threaded, so `next` needs no lock.
    for call in queue:
        if time.perf_counter() >= stop_at:
            return
        sent = time.perf_counter()
        try:
            async with session.post(call.path, json=call.body, headers=call.headers) as resp:
                status, text = resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, text = NO_ANSWER, repr(exc)
        took = time.perf_counter() - sent
        result.statuses[status] += 1
        if status == 201:
            result.latencies.append(took)
        else:
            result.samples.setdefault(status, text[:300])
