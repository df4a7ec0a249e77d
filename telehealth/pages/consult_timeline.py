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


def pending_question(items: list[TimelineItem]) -> str | None:
    """The specialist's latest request for information."""
    asked = [item for item in items if item.kind == "info_requested"]
    question = asked[-1].data.get("question") if asked else None
    return question if isinstance(question, str) else None
