"""Folded text for searching Vietnamese names: no case, no tone marks, đ read as d.

Stored beside the name (`patients.search_name`) so one plain LIKE finds "Nguyễn Văn Bình"
from "nguyen van binh" on SQLite and PostgreSQL alike, without an extension on either.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["fold"]

# đ/Đ is a letter of its own, not d with a mark: NFD leaves it whole.
_LETTERS: Final = str.maketrans({"đ": "d", "Đ": "d"})
_SPACES: Final = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case `text`, drop its diacritics and squeeze its spaces."""
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTERS))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare).strip().lower()
