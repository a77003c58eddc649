"""Portable upsert helpers: one code path for SQLite and PostgreSQL.

Both dialects speak ``INSERT ... ON CONFLICT``; SQLAlchemy exposes them as two ``insert``
constructs with the same API, so the only switch is which one to import. Updates always use
``excluded.<col>`` (setting a column to the row dict would write the old values back).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import JSON, Connection, Table, func
from sqlalchemy.dialects import postgresql, sqlite

from schema.types import UTCDateTime, sqlite_timestamp

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")


def dialect_insert(conn: Connection, table: Table) -> Any:
    """``INSERT`` with ``on_conflict_*`` support for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(conn: Connection, table: Table, key: Sequence[str]) -> Any:
    """``INSERT ... ON CONFLICT (key) DO NOTHING``."""
    return dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(key))


def upsert(
    conn: Connection,
    table: Table,
    key: Sequence[str],
    columns: Iterable[str],
    *,
    fill_only: bool = False,
) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col`` for ``columns``.

    ``fill_only``: a stored value is never replaced, only an empty (NULL) cell is filled
    (``SET col = COALESCE(col, excluded.col)``).
    """
    stmt = dialect_insert(conn, table)
    update = {
        col: func.coalesce(table.c[col], stmt.excluded[col]) if fill_only else stmt.excluded[col]
        for col in columns
        if col not in key
    }
    if not update:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt.on_conflict_do_update(index_elements=list(key), set_=update)


#: Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
IN_CHUNK = 900


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Slices of at most ``size`` items (keeps IN lists under the bound-parameter limits)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: The exact text UTCDateTime writes on SQLite, so both paths read back alike (cached:
#: a bulk page repeats its run time and many dates).
_sqlite_datetime = lru_cache(maxsize=8192)(sqlite_timestamp)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class BulkInsert:
    """A pre-rendered ``INSERT`` run with the driver's own ``executemany``.

    SQLAlchemy's per-row parameter processing costs more than SQLite's insert itself on the
    loader's hot path (hundreds of thousands of child rows per minute), so rows go to the
    driver as tuples. Only columns whose type needs it are converted: timestamps (UTC text
    on SQLite, aware datetimes on PostgreSQL) and JSON (serialised text).
    """

    def __init__(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        *,
        ignore_conflicts: bool = False,
    ) -> None:
        self.conn = conn
        sqlite_engine = conn.dialect.name == "sqlite"
        names = ", ".join(f'"{c}"' for c in columns)
        mark = "?" if sqlite_engine else "%s"
        suffix = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        self.sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join(mark for _ in columns)}){suffix}'
        # PostgreSQL: a round trip per row dominates executemany, so plain inserts use COPY.
        self.copy_sql = (
            None
            if sqlite_engine or ignore_conflicts
            else f'COPY "{table.name}" ({names}) FROM STDIN'
        )
        self.converters: list[tuple[int, Callable[[Any], Any]]] = []
        for index, name in enumerate(columns):
            column_type = table.c[name].type
            if isinstance(column_type, UTCDateTime):
                if sqlite_engine:
                    self.converters.append((index, _sqlite_datetime))
            elif isinstance(column_type, JSON):
                self.converters.append((index, _json_text))

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.converters:
            converted = []
            for row in rows:
                values = list(row)
                for index, convert in self.converters:
                    if values[index] is not None:
                        values[index] = convert(values[index])
                converted.append(tuple(values))
            rows = converted
        if self.copy_sql is None:
            self.conn.exec_driver_sql(self.sql, list(rows))
            return
        driver = self.conn.connection.dbapi_connection
        assert driver is not None
        # COPY is only set up on PostgreSQL, whose DBAPI connection is psycopg's.
        psycopg_conn = cast("psycopg.Connection[Any]", driver)
        with psycopg_conn.cursor() as cursor, cursor.copy(self.copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
