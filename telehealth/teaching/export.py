"""The attendance register as CSV for spreadsheets, safe against formula injection."""

from __future__ import annotations

import csv
import io
from typing import Final

from telehealth.teaching import schemas as s

__all__ = ["attendance_csv", "safe_cell"]

# A cell starting with one of these is run as a formula by spreadsheet programs
# (OWASP "CSV injection"); a leading apostrophe makes it plain text.
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "\n")
HEADER: Final = (
    "user_id",
    "full_name",
    "role",
    "minutes",
    "share",
    "first_joined",
    "last_left",
    "certified",
)


def safe_cell(value: str) -> str:
    """Text a spreadsheet shows as text, never evaluates."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def attendance_csv(register: s.AttendanceOut) -> str:
    """One row per person; names are the only free text and are neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for a in register.items:
        writer.writerow(
            (
                a.user_id,
                safe_cell(a.full_name),
                a.role,
                f"{a.minutes:.1f}",
                f"{a.share:.3f}",
                a.first_joined.isoformat() if a.first_joined else "",
                a.last_left.isoformat() if a.last_left else "",
                "yes" if a.certified else "no",
            )
        )
    return out.getvalue()
