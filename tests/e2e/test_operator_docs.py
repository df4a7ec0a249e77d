"""The operator's documentation names every setting the program actually reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from telehealth.config import ENV_PREFIX, Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers every variable asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self._values[key]

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def settings_read(tmp_path: Path) -> set[str]:
    """The names of the variables `Settings.from_env` reads."""
    environ = RecordingEnviron(
        {f"{ENV_PREFIX}DATA_DIR": str(tmp_path), f"{ENV_PREFIX}SECRET_KEY": "x" * 32}
    )
    Settings.from_env(environ)
    return {name for name in environ.asked if name.startswith(ENV_PREFIX)}


def test_readme_and_configuration_doc_name_every_setting(tmp_path: Path) -> None:
    read = settings_read(tmp_path)
    assert f"{ENV_PREFIX}DATABASE_URL" in read  # the recorder itself works
    for doc in ("README.md", "docs/configuration.md"):
        text = (PROJECT_ROOT / doc).read_text(encoding="utf-8")
        missing = sorted(name for name in read if f"`{name}`" not in text)
        assert not missing, f"{doc} does not document {missing}"
