"""Numbers and file sizes as the page's language writes them (Babel's CLDR data): Vietnamese
"36,8" and "1.234", English "36.8" and "1,234"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from babel.numbers import format_decimal

__all__ = ["Formats"]

_SIZE_UNITS = ("B", "kB", "MB", "GB")


@dataclass(frozen=True)
class Formats:
    """The number formats of one locale, handed to the templates."""

    locale: str

    def number(self, value: float, digits: int = 2) -> str:
        """`value` with at most `digits` decimals, in the locale's separators."""
        pattern = "#,##0" + ("." + "#" * digits if digits > 0 else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def filesize(self, size: int) -> str:
        """A size in bytes in decimal units (kB = 1000 B), one decimal from kB up."""
        value = float(size)
        unit = 0
        while value >= 1000 and unit < len(_SIZE_UNITS) - 1:
            value /= 1000
            unit += 1
        return f"{self.number(value, 1 if unit else 0)} {_SIZE_UNITS[unit]}"

    def helpers(self) -> dict[str, Callable[..., str]]:
        """What the templates call: `format_number(v)`, `format_size(n)`."""
        return {"format_number": self.number, "format_size": self.filesize}
