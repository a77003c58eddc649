"""Printing query results: a table for people, CSV and JSON for programs.

Rows arrive as an iterator and CSV/JSON are written as they come, so ``adlib sql --csv`` on a
million rows runs in flat memory. A terminal table needs every row before it can size its
columns, so it shows the first :data:`TABLE_MAX_ROWS` and says how many more there were.
Cell text is never read as rich markup: an ad saying ``[bold]`` prints as written.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

#: Rows a terminal table shows; the rest are counted, not printed.
TABLE_MAX_ROWS = 1000


def _binary(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def _json_default(value: Any) -> Any:
    """Numbers stay numbers (PostgreSQL's NUMERIC arrives as Decimal), times become ISO."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def write_rows(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    fmt: str,
    out: TextIO | None = None,
) -> int:
    """Print ``rows`` as ``fmt`` (table, csv or json); returns the number of rows."""
    stream = out or sys.stdout
    if fmt == "csv":
        return _write_csv(columns, rows, stream)
    if fmt == "json":
        return _write_json(columns, rows, stream)
    return _write_table(columns, rows, stream)


def _write_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_binary(value) for value in row])
        count += 1
    return count


def _write_json(columns: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO) -> int:
    """A JSON list of objects, one per line, written row by row."""
    count = 0
    out.write("[")
    for row in rows:
        item = json.dumps(
            dict(zip(columns, row, strict=True)), default=_json_default, ensure_ascii=False
        )
        out.write(("\n" if count == 0 else ",\n") + item)
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def table_console(table: Table, out: TextIO) -> Console:
    """A console that prints ``table`` to ``out``: fitted to a terminal, else at full width.

    Off a terminal (a pipe, a log, a cron mail) there is no width to fit, and rich's default
    of 80 columns wraps every cell over several lines; the table's natural width keeps one
    row per line.
    """
    if out.isatty():
        return Console(file=out)
    wide = Console(file=out, width=1_000_000)
    return Console(file=out, width=wide.measure(table).maximum)


def _write_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO) -> int:
    table = Table()
    for column in columns:
        table.add_column(Text(column))
    count = 0
    for row in rows:
        count += 1
        if count <= TABLE_MAX_ROWS:
            table.add_row(*(Text("" if v is None else str(_binary(v))) for v in row))
    table_console(table, out).print(table)
    if count > TABLE_MAX_ROWS:
        out.write(
            f"{count - TABLE_MAX_ROWS:,} more rows not shown: use --csv or --json, or a LIMIT\n"
        )
    return count
