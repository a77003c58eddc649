"""Read-only access for analysts: `adlib sql`, `adlib search` and `adlib export`.

A read-only engine refuses writes on both engines, whatever the SQL says:

* SQLite: the file is opened with ``mode=ro`` and ``PRAGMA query_only`` (``db.make_engine``);
  here, ``ATTACH`` is disabled too, so a query cannot open a second, writable file.
* PostgreSQL: sessions default to read-only transactions (``db.make_engine``); here, every
  transaction starts with ``SET TRANSACTION READ ONLY`` (so a ``set_config`` in an earlier
  statement cannot switch a pooled session back), and queries from ``adlib sql`` go through
  the extended protocol as a prepared statement, which holds exactly one statement: with the
  simple protocol ``COMMIT; BEGIN READ WRITE; DELETE FROM ads`` would run (tested).

Sessions use UTC, so ``-p since=2026-01-01`` compared with a timestamp means midnight UTC on
both engines (SQLite stores UTC text).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from pipeline import db

_READ_ONLY = re.compile(r"read-?only|readonly|read only", re.IGNORECASE)
_MISSING_PARAM = re.compile(r"value is required for bind parameter '(\w+)'")


class QueryError(Exception):
    """A query that was refused or failed; the message is one line for the user."""


def readonly_engine(url: str) -> Engine:
    """An engine that cannot write (see the module docstring), in UTC."""
    engine = db.make_engine(url, readonly=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_no_attach)
    else:
        event.listen(engine, "connect", _pg_session)
        event.listen(engine, "begin", _pg_read_only_transaction)
        event.listen(engine, "do_execute", _one_statement)
        event.listen(engine, "do_execute_no_params", _one_statement_no_params)
    return engine


def _sqlite_no_attach(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)


def _pg_session(dbapi_connection: Any, _record: object) -> None:
    """UTC; and prepared statements only when asked for (``db.make_engine`` disables them,
    which would make ``prepare=True`` in :func:`_one_statement` a silent no-op)."""
    dbapi_connection.prepare_threshold = 2**31
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


def _pg_read_only_transaction(conn: Connection) -> None:
    conn.exec_driver_sql("SET TRANSACTION READ ONLY")


#: Execution option asking for :func:`_one_statement` (set by :func:`query_rows`).
SINGLE_STATEMENT = "adlib_single_statement"


def _one_statement(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    """``do_execute`` hook: with :data:`SINGLE_STATEMENT`, run the statement prepared, which
    uses the extended protocol and so accepts exactly one statement."""
    if not context.execution_options.get(SINGLE_STATEMENT):
        return None
    cursor.execute(statement, parameters, prepare=True)
    return True


def _one_statement_no_params(cursor: Any, statement: str, context: Any) -> bool | None:
    """The same for a statement without parameters (SQLAlchemy's other execute path)."""
    return _one_statement(cursor, statement, None, context)


def require_head(engine: Engine, command: str) -> None:
    """Refuse to run ``command`` on a database whose schema lacks what it needs (views,
    search index): a read-only command cannot migrate, so it names the fix."""
    current, head = db.current_revision(engine), db.head_revision()
    if current != head:
        raise db.DatabaseError(
            f"{command} needs schema {head}, the database is at {current or 'nothing'}: "
            "back it up, then run `adlib db upgrade`"
        )


def bind_params(items: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings as bound parameters (values stay text; the database casts)."""
    bound: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise QueryError(f"--param {item!r} must look like NAME=VALUE")
        bound[name] = value
    return bound


@contextmanager
def query_rows(
    engine: Engine, sql: str, params: dict[str, str]
) -> Iterator[tuple[list[str], Iterator[tuple[Any, ...]]]]:
    """Run one read-only statement; yield its column names and a row iterator.

    On SQLite the rows stream from the database while the caller writes them out; on
    PostgreSQL a prepared statement's result arrives whole (use LIMIT, or `adlib export` for
    big extracts). The transaction is rolled back afterwards in any case. Refusals and
    failures raise :class:`QueryError`.
    """
    statement = text(escape_literal_colons(sql))
    unused = sorted(set(params) - set(statement.compile().params))
    if unused:
        raise QueryError(f"--param {unused[0]}: the query has no :{unused[0]}")
    options: dict[str, Any] = (
        {SINGLE_STATEMENT: True} if engine.dialect.name == "postgresql" else {"yield_per": 1000}
    )
    try:
        with engine.connect() as conn:
            result = conn.execution_options(**options).execute(statement, params)
            if not result.returns_rows:
                raise QueryError("adlib sql runs queries that return rows; nothing was changed")
            yield list(result.keys()), (tuple(row) for row in result)
            conn.rollback()
    except SQLAlchemyError as exc:
        raise QueryError(describe_failure(exc)) from None


def escape_literal_colons(sql: str) -> str:
    """Escape (``\\:``) the colons in string literals, quoted names and comments.

    SQLAlchemy's ``text()`` takes every ``:word`` for a bound parameter, even in a comment
    (``-- :country = KE`` in the cookbook) or a string (``'at :noon'``). Only the colons
    outside quotes and comments are left to it.
    """
    out: list[str] = []
    index, length = 0, len(sql)
    while index < length:
        char = sql[index]
        if char in "'\"":
            end = sql.find(char, index + 1)
            while end != -1 and sql[end + 1 : end + 2] == char:  # doubled quote
                end = sql.find(char, end + 2)
            end = length if end == -1 else end + 1
        elif sql.startswith("--", index):
            end = sql.find("\n", index)
            end = length if end == -1 else end
        elif sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            end = length if end == -1 else end + 2
        else:
            out.append(char)
            index += 1
            continue
        out.append(sql[index:end].replace(":", "\\:"))
        index = end
    return "".join(out)


def describe_failure(exc: SQLAlchemyError) -> str:
    """One line saying why a query did not run: refused write, missing parameter, error."""
    message = _first_line(exc.orig if isinstance(exc, DBAPIError) else exc)
    missing = _MISSING_PARAM.search(message)
    if missing:
        name = missing.group(1)
        return f"the query uses :{name}: pass -p {name}=VALUE"
    if _READ_ONLY.search(message):
        return f"adlib sql is read-only; the statement was refused ({message})"
    if "multiple commands" in message or "one statement at a time" in message:
        return "adlib sql runs one statement at a time; nothing was changed"
    return f"query failed: {message}"


def _first_line(exc: object) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
