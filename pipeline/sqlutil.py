"""Portable upsert helpers: one code path for SQLite and PostgreSQL.

Both dialects speak ``INSERT ... ON CONFLICT``; SQLAlchemy exposes them as two ``insert``
constructs with the same API, so the only switch is which one to import. Updates always use
``excluded.<col>`` (setting a column to the row dict would write the old values back).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")


def dialect_insert(conn: Connection, table: Table) -> Any:
    """``INSERT`` with ``on_conflict_*`` support for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(conn: Connection, table: Table, key: Sequence[str]) -> Any:
    """``INSERT ... ON CONFLICT (key) DO NOTHING``."""
    return dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(key))


def upsert(conn: Connection, table: Table, key: Sequence[str], columns: Iterable[str]) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col`` for ``columns``."""
    stmt = dialect_insert(conn, table)
    update = {col: stmt.excluded[col] for col in columns if col not in key}
    if not update:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt.on_conflict_do_update(index_elements=list(key), set_=update)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Slices of at most ``size`` items (keeps IN lists under the bound-parameter limits)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
