"""Declarative base with a naming convention, UTC timestamps and string ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A random, unguessable object id (ids never reveal counts or order)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops offsets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The one declarative base; every table shares its metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), str: String()}


def import_all_models() -> MetaData:
    """Import every feature's models so `Base.metadata` is complete (Alembic, tests)."""
    from telehealth.accounts import models as _accounts  # noqa: F401
    from telehealth.auth import models as _auth  # noqa: F401
    from telehealth.consults import models as _consults  # noqa: F401
    from telehealth.outbox import models as _outbox  # noqa: F401
    from telehealth.rooms import models as _rooms  # noqa: F401
    from telehealth.scheduling import models as _scheduling  # noqa: F401
    from telehealth.teaching import models as _teaching  # noqa: F401

    return Base.metadata
