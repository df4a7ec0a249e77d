"""The consult timeline as the page shows it: local times, names instead of ids."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telehealth.consults import schemas as s

# Event data keeps times as text (it is JSON); these keys hold one.
TIME_KEYS = ("due_at", "start")


@dataclass
class TimelineItem:
    """One entry: when (local time), what, who, and what the page needs to describe it."""

    id: str
    at: datetime
    kind: str
    actor: str | None
    data: dict[str, Any] = field(default_factory=dict)


def timeline_view(
    entries: Iterable[s.TimelineEntry],
    people: dict[str, str],
    local: Callable[[datetime | None], datetime | None],
) -> list[TimelineItem]:
    """The entries oldest first, with times made local and practitioners named."""
    items = []
    for entry in entries:
        data = dict(entry.data)
        for key in TIME_KEYS:
            data[key] = local(_moment(data.get(key)))
        if isinstance(data.get("practitioner_id"), str):
            data["practitioner"] = people.get(data["practitioner_id"], "")
        at = local(entry.at) or entry.at
        actor = entry.actor.full_name if entry.actor else None
        items.append(TimelineItem(entry.id, at, entry.kind, actor, data))
    return items


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def amendments(items: Iterable[TimelineItem]) -> list[TimelineItem]:
    """The amendments of the request, newest first: version, who, when, fields, why."""
    return [item for item in reversed(list(items)) if item.kind == "amended"]


# The order in which an amendment's changes are listed; the case summary by its parts.
AMENDABLE_FIELDS = ("question", "urgency", "patient_present")
CASE_PARTS = ("history", "examination", "vitals", "current_treatment", "allergies")


@dataclass(frozen=True)
class FieldChange:
    """One field an amendment changed: its name (a case part on its own), before, after."""

    field: str
    before: Any
    after: Any


def amendment_changes(items: Iterable[s.AmendmentOut]) -> dict[int, list[FieldChange]]:
    """Per version, the fields each amendment changed, with the values it replaced."""
    out = {}
    for amendment in items:
        before, after = amendment.previous, amendment.changes
        rows = [
            FieldChange(name, before.get(name), after[name])
            for name in AMENDABLE_FIELDS
            if name in after and before.get(name) != after[name]
        ]
        if isinstance(after.get("summary"), dict):
            old: dict[str, Any] = before.get("summary") or {}
            new: dict[str, Any] = after["summary"]
            rows += [
                FieldChange(part, old.get(part), new.get(part))
                for part in CASE_PARTS
                if _filled(old.get(part)) != _filled(new.get(part))
            ]
        out[amendment.version] = rows
    return out


def _filled(value: Any) -> Any:
    """A case part as far as it says anything (empty text and unset vitals say nothing)."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value or None


def pending_question(items: list[TimelineItem]) -> str | None:
    """The specialist's latest request for information."""
    asked = [item for item in items if item.kind == "info_requested"]
    question = asked[-1].data.get("question") if asked else None
    return question if isinstance(question, str) else None
