"""Settings are built from the environment, never read at import."""

from __future__ import annotations

from pathlib import Path

import pytest

from telehealth.config import ClientTimeouts, ConfigError, PasswordPolicy, Settings


def test_embedded_default_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"TELEHEALTH_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'telehealth.sqlite3'}"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.port == 8080


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings.from_env({"TELEHEALTH_DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"TELEHEALTH_DATA_DIR": str(tmp_path)})
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_postgres_urls_get_the_async_driver(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"TELEHEALTH_DATA_DIR": str(tmp_path), "TELEHEALTH_DATABASE_URL": "postgresql://u@h/db"}
    )
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert not settings.is_sqlite


def test_ice_servers_are_parsed(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "TELEHEALTH_DATA_DIR": str(tmp_path),
            "TELEHEALTH_ICE_SERVERS": (
                '[{"urls": "turn:t:3478", "username": "u", "credential": "c"}]'
            ),
        }
    )
    assert settings.ice_servers[0].urls == ("turn:t:3478",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("ICE_SERVERS", "{nope"),
        ("ICE_SERVERS", "[{}]"),
        ("CONSULT_PAGE_ON_SUBMIT", "emergency,soon"),
        ("HEADER_TIMEOUT_SECONDS", "0"),
        ("BODY_TIMEOUT_SECONDS", "soon"),
        ("UPLOAD_MIN_RATE", "fast"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"TELEHEALTH_DATA_DIR": str(tmp_path), f"TELEHEALTH_{name}": value})


def test_password_hashing_defaults_are_owasps() -> None:
    # OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
    policy = PasswordPolicy()
    assert (policy.memory_cost_kib, policy.time_cost, policy.parallelism) == (19456, 2, 1)


def test_urgencies_paged_on_submit(tmp_path: Path) -> None:
    base = {"TELEHEALTH_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).consults.page_on_submit == ("emergency",)
    both = {**base, "TELEHEALTH_CONSULT_PAGE_ON_SUBMIT": " urgent, emergency "}
    assert Settings.from_env(both).consults.page_on_submit == ("emergency", "urgent")
    none = {**base, "TELEHEALTH_CONSULT_PAGE_ON_SUBMIT": ""}
    assert Settings.from_env(none).consults.page_on_submit == ()


def test_client_timeouts_are_read_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "TELEHEALTH_DATA_DIR": str(tmp_path),
            "TELEHEALTH_HEADER_TIMEOUT_SECONDS": "5",
            "TELEHEALTH_BODY_TIMEOUT_SECONDS": "12.5",
            "TELEHEALTH_UPLOAD_MIN_RATE": "8192",
        }
    )
    assert settings.client_timeouts == ClientTimeouts(5.0, 12.5, 8192)
    defaults = Settings.from_env({"TELEHEALTH_DATA_DIR": str(tmp_path)}).client_timeouts
    assert defaults == ClientTimeouts(header_seconds=15.0, body_seconds=30.0, upload_min_rate=2048)
