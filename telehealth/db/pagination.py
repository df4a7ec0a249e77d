"""Keyset pagination over (an ordering column, id) with opaque cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from telehealth.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows and the cursor of the next page, if any."""

    items: Sequence[T]
    next: str | None


def encode_cursor(created_at: datetime, row_id: str) -> str:
    """An opaque cursor pointing just after one row."""
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Parse a cursor made by `encode_cursor`; a tampered one is a validation error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = json.loads(raw)
        moment = datetime.fromisoformat(at)
        # We only issue UTC times and string ids; anything else was made by hand.
        if moment.tzinfo is None or not isinstance(row_id, str) or "\x00" in row_id:
            raise ValueError("not a cursor of ours")
        return moment.astimezone(UTC), row_id
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput("The cursor is not valid.") from exc


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    order_col: InstrumentedAttribute[datetime] | InstrumentedAttribute[datetime | None],
    id_col: InstrumentedAttribute[str],
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    """Run `stmt` ordered by (order_col, id), one page after `cursor`; `stmt` must leave
    out rows whose order_col is null."""
    if cursor:
        at, row_id = decode_cursor(cursor)
        stmt = stmt.where(or_(order_col > at, and_(order_col == at, id_col > row_id)))
    rows = list((await session.scalars(stmt.order_by(order_col, id_col).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    next_cursor = (
        encode_cursor(getattr(last, order_col.key), getattr(last, id_col.key)) if last else None
    )
    return Page(rows, next_cursor)
