"""Minutes present per person, computed from a room's event log.

A presence opens when a peer joins (or comes back) and closes when it leaves or the room
ends. A dropped connection that comes back within the reconnect window does not split the
presence; one that does not come back is counted up to the moment it dropped. A second
tab takes over the same peer, and the first tab's later drop does not end the presence.
Windows of one person are merged, so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

__all__ = ["LogEntry", "Presence", "minutes_present", "presence_of", "share_within"]

ARRIVALS: Final = frozenset({"joined", "reconnected"})
# A `left` with one of these reasons is the end of the reconnect window, not a goodbye:
# the person was gone since their connection dropped.
LOST: Final = frozenset({"connection_lost", "node_restarted"})

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class LogEntry:
    """What attendance needs of one room event."""

    kind: str
    at: datetime
    peer_id: str | None = None
    user_id: str | None = None
    reason: str | None = None
    connection: str | None = None


@dataclass
class Presence:
    """One person's merged windows in the room."""

    user_id: str | None
    windows: list[Window] = field(default_factory=list)

    @property
    def first_joined(self) -> datetime | None:
        """When they first came in."""
        return self.windows[0][0] if self.windows else None

    @property
    def last_left(self) -> datetime | None:
        """When they were last seen."""
        return self.windows[-1][1] if self.windows else None


@dataclass
class _Peer:
    user_id: str | None = None
    since: datetime | None = None
    connection: str | None = None
    dropped: datetime | None = None
    windows: list[Window] = field(default_factory=list)

    def close(self, at: datetime) -> None:
        end = self.dropped if self.dropped is not None else at
        if self.since is not None and end > self.since:
            self.windows.append((self.since, end))
        self.since, self.dropped = None, None


def presence_of(
    entries: Iterable[LogEntry], reconnect_window: timedelta, now: datetime
) -> dict[str, Presence]:
    """Each peer's merged presence windows; a presence still open is counted up to `now`."""
    peers: dict[str, _Peer] = {}
    for entry in sorted(entries, key=lambda e: e.at):
        if entry.kind == "ended":
            for peer in peers.values():
                peer.close(entry.at)
            continue
        if entry.peer_id is None:
            continue
        peer = peers.setdefault(entry.peer_id, _Peer())
        peer.user_id = peer.user_id or entry.user_id
        _apply(peer, entry, reconnect_window)
    for peer in peers.values():
        if peer.since is not None:
            peer.close(now)
    return {
        peer_id: Presence(peer.user_id, _merged(peer.windows)) for peer_id, peer in peers.items()
    }


def _apply(peer: _Peer, entry: LogEntry, reconnect_window: timedelta) -> None:
    if entry.kind in ARRIVALS:
        if peer.dropped is not None and entry.at - peer.dropped > reconnect_window:
            peer.close(peer.dropped)  # came back too late: a new presence
        peer.dropped = None
        if peer.since is None:
            peer.since = entry.at
        peer.connection = entry.connection or peer.connection
    elif entry.kind == "disconnected":
        # The drop of a tab another tab has since replaced changes nothing.
        replaced = entry.connection is not None and entry.connection != peer.connection
        if peer.since is not None and peer.dropped is None and not replaced:
            peer.dropped = entry.at
    elif entry.kind == "left" and peer.since is not None:
        if entry.reason not in LOST:
            peer.dropped = None
        peer.close(entry.at)


def _merged(windows: list[Window]) -> list[Window]:
    merged: list[Window] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def minutes_present(windows: Iterable[Window]) -> float:
    """The total length of (merged) windows, in minutes."""
    return sum((end - start).total_seconds() for start, end in windows) / 60


def share_within(windows: Iterable[Window], start: datetime, end: datetime) -> float:
    """The share of the planned session [start, end) covered by the windows (0 to 1)."""
    planned = (end - start).total_seconds()
    if planned <= 0:
        return 0.0
    covered = sum(max(0.0, (min(e, end) - max(s, start)).total_seconds()) for s, e in windows)
    return min(1.0, covered / planned)
