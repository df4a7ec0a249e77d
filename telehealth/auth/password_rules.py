"""What a new password must not be: common, or guessable from the account it protects.

OWASP ASVS (V2.1.7, V2.1.9) asks that new passwords be checked against a list of
breached or common passwords and not be built from context (the username, the
person's name, the facility), without composition rules. The lists come from the
maintained `zxcvbn` package (30,000 common passwords and English, name and
pop-culture frequency lists), never typed in here; its estimate also catches
repeats, sequences, keyboard walks and dates.
"""

from __future__ import annotations

import asyncio
import re
import threading
import unicodedata
from typing import Final

from zxcvbn import zxcvbn

from telehealth.errors import InvalidInput

__all__ = ["MIN_SCORE", "WEAK_PASSWORD", "check_new_password", "context_words"]

# zxcvbn's 0-4 scale: 3 means at least 10^8 guesses, out of reach of a throttled online
# attack and costly offline against argon2id.
MIN_SCORE: Final = 3
WEAK_PASSWORD: Final = "This password is too easy to guess."  # noqa: S105 (a message)
# The product's own name is context for every account.
SITE_WORDS: Final = ("telehealth",)
# zxcvbn refuses longer input; a password whose first 72 characters are strong is strong.
_ESTIMATED_PREFIX: Final = 72
# zxcvbn keeps the user inputs of a call in a module-level dictionary: calls from two
# threads at once would see each other's words.
_ZXCVBN_LOCK: Final = threading.Lock()


def _fold(text: str) -> str:
    """Lower case without diacritics (Vietnamese đ included): 'Mường Tè' -> 'muong te'."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def context_words(*texts: str | None) -> list[str]:
    """The words a password must not be built from: each text, every run of its words
    joined ('muongte', 'benhvien'), its words of 3 letters or more, with and without
    diacritics."""
    words: set[str] = set(SITE_WORDS)
    for text in filter(None, texts):
        for form in {text.lower(), _fold(text)}:
            parts = [p for p in re.split(r"[\W_]+", form) if p][:12]
            runs = {
                "".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 2, len(parts) + 1)
            }
            words.update({form, *runs, *(p for p in parts if len(p) >= 3)})
    return sorted(w for w in words if w)


def _score(password: str, words: list[str]) -> int:
    with _ZXCVBN_LOCK:
        result = zxcvbn(password[:_ESTIMATED_PREFIX], user_inputs=words)
    return int(result["score"])


async def check_new_password(password: str, *context: str | None) -> None:
    """Refuse a common or context-built password (InvalidInput); estimated off the loop."""
    words = context_words(*context)
    candidates = {password, _fold(password)}
    scores = [await asyncio.to_thread(_score, candidate, words) for candidate in candidates]
    if min(scores) < MIN_SCORE:
        raise InvalidInput(WEAK_PASSWORD, extra={"errors": [_field_error()]})


def _field_error() -> dict[str, object]:
    return {
        "location": ["body", "password"],
        "message": "common, or built from the username, name or facility",
        "type": "weak_password",
    }
