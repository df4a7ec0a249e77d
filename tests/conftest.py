"""Fixtures shared by the whole suite: settings, databases (SQLite and PostgreSQL), app."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from telehealth.app import create_app
from telehealth.config import PasswordPolicy, Settings
from tests.support import databases
from tests.support.network import Network
from tests.support.snapshots import NetworkSnapshot, build_snapshot, load_snapshot

# argon2 at OWASP cost would make every test user take ~50 ms to create; the
# production parameters are checked by a unit test of their own.
FAST_PASSWORDS = PasswordPolicy(time_cost=1, memory_cost_kib=8, parallelism=1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run database tests on SQLite, and on PostgreSQL when a server is given."""
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"]
        if databases.postgres_url():
            backends.append("postgresql")
        metafunc.parametrize("backend", backends, scope="session")


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI a missing PostgreSQL is a failure, never a silent skip."""
    if os.environ.get("CI") == "true" and not databases.postgres_url():
        raise pytest.UsageError(
            f"CI=true but {databases.PG_ENV} is not set: the PostgreSQL run would be lost"
        )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file for the whole run."""
    return databases.sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """One migrated PostgreSQL database for the whole run (None without a server)."""
    server = databases.postgres_url()
    if server is None:
        yield None
        return
    url = asyncio.run(databases.create_postgres_database(server))
    yield url
    asyncio.run(databases.drop_postgres_database(server, url))


@pytest.fixture
async def database_url(
    backend: str,
    sqlite_template: Path,
    postgres_database: str | None,
    network_snapshot: NetworkSnapshot,
    tmp_path: Path,
) -> str:
    """A fresh, migrated database for one test (the network's snapshot is made first: on
    PostgreSQL it is built in the same database)."""
    if backend == "sqlite":
        return databases.sqlite_copy(sqlite_template, tmp_path)
    assert postgres_database is not None
    await databases.truncate_postgres(postgres_database)
    return postgres_database


def base_settings(database_url: str, data_dir: Path) -> Settings:
    """The settings every test starts from: its own data directory and database."""
    data_dir.mkdir()
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key="test-secret-key-not-for-production",
        passwords=FAST_PASSWORDS,
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own data directory and database."""
    return base_settings(database_url, tmp_path / "data")


@pytest.fixture(scope="session")
def network_snapshot(
    backend: str,
    sqlite_template: Path,
    postgres_database: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> NetworkSnapshot:
    """The test network of one backend, built once per run and copied into each test."""
    home = tmp_path_factory.mktemp(f"network-{backend}")
    if backend == "sqlite":
        url = databases.sqlite_copy(sqlite_template, home)
    else:
        assert postgres_database is not None
        asyncio.run(databases.truncate_postgres(postgres_database))
        url = postgres_database
    return build_snapshot(backend, url, base_settings(url, home / "data"))


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient[Any, Any]:
    """A real server on a loopback port, with a real database."""
    return await aiohttp_client(create_app(settings))  # type: ignore[no-any-return]


@pytest.fixture
async def network(
    client: TestClient[Any, Any],
    settings: Settings,
    network_snapshot: NetworkSnapshot,
) -> Network:
    """A small health network with one user per role (`build_network`: made through the
    services once per run, its rows copied into this test's database)."""
    await load_snapshot(network_snapshot, settings.database_url)
    return network_snapshot.network(client)
