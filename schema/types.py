"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator, TypeEngine


def sqlite_timestamp(value: datetime) -> str:
    """The UTC text a timestamp is stored as on SQLite: ``YYYY-MM-DD HH:MM:SS[.ffffff]``.

    The fraction is written only when it is not zero (Python's ``isoformat``, also what the
    sqlite3 driver writes for a bare datetime parameter): most published times are dates or
    whole seconds, and ``.000000`` cost 7 bytes in each of them, 4% of a Google import's
    database. Both spellings sort and compare as the instants they name, because a shorter
    text sorts before any longer one it prefixes; stored values are all one spelling since
    migration 0010.
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ")


class _SQLiteDateTime(sqlite.DATETIME):
    """SQLite ``DATETIME`` written by :func:`sqlite_timestamp` (read by SQLAlchemy's parser)."""

    def bind_processor(self, dialect: Dialect) -> Any:
        def process(value: datetime | None) -> str | None:
            return None if value is None else sqlite_timestamp(value)

        return process


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite has no time zones and PostgreSQL's ``timestamptz`` returns the session zone; this
    type makes both hand back aware UTC datetimes, so comparisons never mix naive and aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteDateTime())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON on SQLite (text), JSONB on PostgreSQL. Python ``None`` is SQL NULL, never the JSON
#: text ``null``, so "absent" has one spelling whichever statement wrote the row.
JSONType = JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
