"""Database objects outside the models: the analyst views and the full-text search index.

Views live one per file (``<name>.sql``), each starting with a comment block that documents
the view and every column; ``docs/schema.md`` and the export dictionary are generated from it
and a test checks the documented columns against the real ones on both engines.

One file serves SQLite and PostgreSQL. The few expressions the two spell differently (a UTC
calendar day of a timestamp, month arithmetic, an ordered string aggregate) are written as
``@macro(arg, ...)`` and expanded per dialect by :func:`render`, so a view's logic is written
once. Everything else is plain SQL both engines accept.

Views are derived objects: ``pipeline.db.upgrade`` drops them before migrating and creates
them all from today's files once the schema is at head, so a change to a view needs no
migration and a new view may read tables that any migration added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import Connection

VIEWS_DIR = Path(__file__).parent

#: Every view, in creation order (a view comes after the views it reads).
VIEW_NAMES: tuple[str, ...] = (
    "v_ads",
    "v_ad_regions",
    "v_ad_demographics",
    "v_ad_targeting",
    "v_ad_spend_monthly",
    "v_advertiser_spend_monthly",
    "v_funders",
    "v_spend_history",
    "v_ad_actors",
    "v_actor_names",
    "v_actor_spend",
    "v_message_tests",
    "v_message_test_monthly",
    "v_ad_targeting_kinds",
    "v_ad_targeting_summary",
    "v_targeting_monthly",
    "v_delivery_skew",
    "v_advertiser_delivery_skew",
    "v_spend_concentration",
    "v_report_spend",
)

#: ``@name(...)`` expansions per dialect; ``{0}``, ``{1}`` are the (already expanded) arguments.
MACROS: dict[str, dict[str, str]] = {
    "sqlite": {
        # Timestamps are stored as UTC text ("YYYY-MM-DD HH:MM:SS.ffffff").
        "utc_date": "date({0})",
        # A timestamp as text that sorts chronologically (it is stored so already).
        "sortable_time": "{0}",
        "month_start": "date({0}, 'start of month')",
        "next_month": "date({0}, 'start of month', '+1 month')",
        "month_end": "date({0}, 'start of month', '+1 month', '-1 day')",
        "month_label": "strftime('%Y-%m', {0})",
        "days_between": "CAST(julianday({1}) - julianday({0}) AS INTEGER)",
        "least": "min({0}, {1})",
        "greatest": "max({0}, {1})",
        "as_float": "CAST({0} AS REAL)",
        # Input order is the order of the ad_countries primary key (see v_ads).
        "sorted_list": "group_concat({0}, ',')",
    },
    "postgresql": {
        # AT TIME ZONE 'UTC' so that the day never depends on the session's TimeZone.
        "utc_date": "CAST(({0}) AT TIME ZONE 'UTC' AS DATE)",
        "sortable_time": "to_char(({0}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
        "month_start": "CAST(date_trunc('month', CAST({0} AS TIMESTAMP)) AS DATE)",
        "next_month": (
            "CAST(date_trunc('month', CAST({0} AS TIMESTAMP)) + INTERVAL '1 month' AS DATE)"
        ),
        "month_end": (
            "CAST(date_trunc('month', CAST({0} AS TIMESTAMP)) + INTERVAL '1 month'"
            " - INTERVAL '1 day' AS DATE)"
        ),
        "month_label": "to_char({0}, 'YYYY-MM')",
        "days_between": "({1} - {0})",
        "least": "LEAST({0}, {1})",
        "greatest": "GREATEST({0}, {1})",
        "as_float": "CAST({0} AS DOUBLE PRECISION)",
        "sorted_list": "string_agg({0}, ',' ORDER BY {0})",
    },
}

_MACRO_CALL = re.compile(r"@(\w+)\(")


class ViewError(Exception):
    """A view file that cannot be rendered (unknown macro, unbalanced parentheses)."""


@dataclass(frozen=True, slots=True)
class ViewDoc:
    """A view's documentation, read from its file's leading comment block."""

    name: str
    description: str
    columns: dict[str, str]


def render(sql: str, dialect: str) -> str:
    """Expand every ``@macro(...)`` in ``sql`` for ``dialect`` (nested calls included)."""
    macros = MACROS[dialect]
    out: list[str] = []
    pos = 0
    while (match := _MACRO_CALL.search(sql, pos)) is not None:
        name = match.group(1)
        if name not in macros:
            raise ViewError(f"unknown macro @{name} (known: {', '.join(sorted(macros))})")
        args, end = _arguments(sql, match.end())
        out.append(sql[pos : match.start()])
        out.append(macros[name].format(*(render(arg, dialect) for arg in args)))
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def _arguments(sql: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments of a call whose ``(`` ends just before ``start``."""
    depth, quoted, args, begin = 0, False, [], start
    for index in range(start, len(sql)):
        char = sql[index]
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == ")":
            args.append(sql[begin:index].strip())
            return args, index + 1
        elif char == "," and not depth:
            args.append(sql[begin:index].strip())
            begin = index + 1
    raise ViewError(f"unbalanced parentheses after offset {start}")


@cache
def _source(name: str) -> str:
    return (VIEWS_DIR / f"{name}.sql").read_text(encoding="utf-8")


def view_sql(name: str, dialect: str) -> str:
    """The ``CREATE VIEW`` statement of ``name`` for ``dialect`` (documentation stripped)."""
    text = _source(name)
    start = text.find("CREATE VIEW")
    if start < 0:
        raise ViewError(f"{name}.sql has no CREATE VIEW")
    return render(text[start:], dialect).strip().rstrip(";")


def view_doc(name: str) -> ViewDoc:
    """The documentation block of ``name``: a description, then ``--   column: meaning``."""
    description: list[str] = []
    columns: dict[str, str] = {}
    current: str | None = None
    for line in _source(name).splitlines():
        if not line.startswith("--"):
            break
        body = line[2:].strip()
        column = re.fullmatch(r"(\w+):\s+(.*)", body)
        if current is not None and line.startswith("--     ") and body:
            columns[current] += " " + body
        elif line.startswith("--   ") and column:
            current = column.group(1)
            columns[current] = column.group(2)
        elif body != "Columns:":
            current = None
            description.append(line[3:].rstrip())
    return ViewDoc(name, "\n".join(description).strip(), columns)


def create_views(conn: Connection) -> None:
    """Create every view, in dependency order."""
    for name in VIEW_NAMES:
        conn.exec_driver_sql(view_sql(name, conn.dialect.name))


def drop_views(conn: Connection) -> None:
    """Drop every view, dependants first."""
    for name in reversed(VIEW_NAMES):
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic filter: the search tables and indexes are not models, so never diff them.

    Without it, autogenerate would propose dropping the FTS5 tables (and their shadow tables)
    and the GIN expression indexes, which exist only in the database.
    """
    from schema.views.search import is_search_object

    return not (reflected and compare_to is None and is_search_object(name))
