"""The weekly-hours form: one row per working window, read back into `AvailabilityIn`.

Each row `i` posts `w{i}` (weekday, 0 = Monday), `k{i}` ("day" for a weekday's own row,
"extra" for another window), `s{i}`/`e{i}` (start, end), `m{i}` (slot minutes), an
optional break `bs{i}`/`be{i}`, and hidden fields that carry what the simple form does
not edit (further breaks `xb{i}`, validity `vf{i}`/`vu{i}`) so saving never drops them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

import pydantic
from multidict import MultiDict

from telehealth.pages.forms import CHECK_FIELD, FormInvalid
from telehealth.scheduling import schemas as s
from telehealth.views.templating import N_

MAX_ROWS = 50
EXTRA_ROWS = 1
DEFAULT_SLOT_MINUTES = "30"

BOTH_TIMES = N_("Enter both the start and the end, or leave both empty.")
BOTH_BREAK_TIMES = N_("Enter both ends of the break, or leave both empty.")
FIVE_MINUTES = N_("Use times on 5-minute marks, such as 07:30.")
SLOT_LENGTH = N_("The slot length is 5 to 240 minutes, in steps of 5.")
ORDER = N_("The end must come after the start, and the break must lie inside the hours.")
TOO_MANY = N_("At most 50 working windows.")
FIELD_MESSAGES = {"slot_minutes": SLOT_LENGTH, "breaks": ORDER}


@dataclass(frozen=True)
class RuleRow:
    """One row of the form: a weekday's own window, or another window on a chosen day."""

    index: int
    weekday: int
    own_day: bool


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def rows_of(rules: list[s.RuleOut]) -> tuple[list[RuleRow], dict[str, str]]:
    """The rows and field values showing the stored rules (a blank row for free days)."""
    rows: list[RuleRow] = []
    values: dict[str, str] = {}
    for weekday in range(7):
        of_day = sorted((r for r in rules if r.weekday == weekday), key=lambda r: r.start)
        shown: list[s.RuleOut | None] = [*of_day] or [None]
        for position, rule in enumerate(shown):
            i = len(rows)
            rows.append(RuleRow(i, weekday, own_day=position == 0))
            values.update(_values(i, weekday, rule))
    for _ in range(EXTRA_ROWS):
        i = len(rows)
        rows.append(RuleRow(i, 0, own_day=False))
        values.update(_values(i, 0, None))
    return rows, values


def _values(i: int, weekday: int, rule: s.RuleOut | None) -> dict[str, str]:
    values = {f"w{i}": str(weekday), f"m{i}": DEFAULT_SLOT_MINUTES}
    if rule is None:
        return values
    breaks: list[tuple[time, time] | None] = [*rule.breaks] or [None]
    first, *more = breaks
    values.update(
        {
            f"s{i}": _hhmm(rule.start),
            f"e{i}": _hhmm(rule.end),
            f"m{i}": str(rule.slot_minutes),
            f"bs{i}": _hhmm(first[0]) if first else "",
            f"be{i}": _hhmm(first[1]) if first else "",
            f"xb{i}": ";".join(f"{_hhmm(b[0])}-{_hhmm(b[1])}" for b in more if b),
            f"vf{i}": rule.valid_from.isoformat(),
            f"vu{i}": rule.valid_until.isoformat() if rule.valid_until else "",
        }
    )
    return values


def rows_from_form(form: MultiDict[str]) -> list[RuleRow]:
    """The rows a posted form says it has (bounded, whatever it claims)."""
    try:
        count = min(int(form.get("rows", "0")), MAX_ROWS + EXTRA_ROWS)
    except ValueError:
        count = 0
    rows = []
    for i in range(max(count, 0)):
        weekday = form.get(f"w{i}", "")
        rows.append(
            RuleRow(
                i,
                int(weekday) if weekday in {"0", "1", "2", "3", "4", "5", "6"} else 0,
                own_day=form.get(f"k{i}") == "day",
            )
        )
    return rows


def parse_rules(form: MultiDict[str], rows: list[RuleRow]) -> s.AvailabilityIn:
    """The weekly rules of the filled-in rows; errors are keyed `row{i}`."""
    rules: list[dict[str, Any]] = []
    owners: list[int] = []
    errors: dict[str, str] = {}
    for row in rows:
        try:
            rule = _rule(form, row)
        except ValueError as problem:
            errors[f"row{row.index}"] = str(problem)
            continue
        if rule is not None:
            rules.append(rule)
            owners.append(row.index)
    if errors:
        raise FormInvalid(errors)
    try:
        return s.AvailabilityIn.model_validate({"rules": rules}, strict=False)
    except pydantic.ValidationError as exc:
        raise _row_errors(exc, owners) from None


def _rule(form: MultiDict[str], row: RuleRow) -> dict[str, Any] | None:
    i = row.index

    def get(name: str) -> str:
        return form.get(f"{name}{i}", "").strip()

    if not get("s") and not get("e"):
        return None
    if not (get("s") and get("e")):
        raise ValueError(BOTH_TIMES)
    if bool(get("bs")) != bool(get("be")):
        raise ValueError(BOTH_BREAK_TIMES)
    breaks = [{"start": get("bs"), "end": get("be")}] if get("bs") else []
    for extra in filter(None, get("xb").split(";")):
        start, _, end = extra.partition("-")
        breaks.append({"start": start, "end": end})
    rule: dict[str, Any] = {
        "weekday": row.weekday,
        "start": get("s"),
        "end": get("e"),
        "slot_minutes": get("m") or DEFAULT_SLOT_MINUTES,
        "breaks": breaks,
    }
    for key, name in (("valid_from", "vf"), ("valid_until", "vu")):
        if get(name):
            rule[key] = get(name)
    return rule


def _row_errors(exc: pydantic.ValidationError, owners: list[int]) -> FormInvalid:
    errors: dict[str, str] = {}
    message = None
    for error in exc.errors(include_url=False, include_input=False):
        loc = error["loc"]
        if len(loc) < 2 or not isinstance(loc[1], int):
            message = TOO_MANY
            continue
        errors.setdefault(f"row{owners[loc[1]]}", _message(loc[2:]))
    return FormInvalid(errors, message)


def _message(loc: tuple[int | str, ...]) -> str:
    # A rule-wide check (end after start, breaks inside) has no field of its own.
    if not loc:
        return ORDER
    if loc[-1] in {"start", "end"}:
        return FIVE_MINUTES
    return FIELD_MESSAGES.get(str(loc[0]), CHECK_FIELD)
