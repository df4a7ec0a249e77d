"""The relay's settings: worker count and capacity from the environment, bad values named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from telehealth.config import ConfigError, Settings


def test_relay_settings_default_to_one_worker_per_core(tmp_path: Path) -> None:
    relay = Settings.from_env({"TELEHEALTH_DATA_DIR": str(tmp_path)}).relay
    assert relay.workers == (os.cpu_count() or 1)
    assert relay.max_streams_per_worker == 200


def test_relay_settings_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "TELEHEALTH_DATA_DIR": str(tmp_path),
        "TELEHEALTH_RELAY_WORKERS": "3",
        "TELEHEALTH_RELAY_MAX_STREAMS": "120",
    }
    relay = Settings.from_env(env).relay
    assert (relay.workers, relay.max_streams_per_worker) == (3, 120)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RELAY_WORKERS", "0"),
        ("RELAY_WORKERS", "many"),
        ("RELAY_MAX_STREAMS", "-1"),
        ("RELAY_MAX_STREAMS", "lots"),
    ],
)
def test_bad_relay_settings_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"TELEHEALTH_DATA_DIR": str(tmp_path), f"TELEHEALTH_{name}": value})
