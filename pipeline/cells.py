"""Canonical cells: one rendering of every column kind, whichever driver read the value.

The drivers hand back different Python values for the same column (SQLite: timestamps as
UTC text, booleans as 0/1, JSON as text; PostgreSQL: aware datetimes, bools, parsed JSON).
Exports (and search output) go through these converters so that a CSV file is the same bytes
from either engine and a Parquet column has one Arrow type. Converters work on a whole
column at a time: a list comprehension costs far less per value than a function call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipeline.dictionary import FORMULA_TRIGGERS

#: The Arrow type of each column kind of :data:`pipeline.dictionary.KINDS`.
ARROW_TYPES: dict[str, pa.DataType] = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "json": pa.string(),
    "text": pa.string(),
    "binary": pa.binary(),
}


class Cells:
    """The converters of one dialect: per column kind, to CSV cells and to Arrow arrays."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def csv(self, kind: str) -> Callable[[Sequence[Any]], list[Any]] | None:
        """The CSV converter of a column of ``kind``, or ``None`` to write values as they are."""
        if kind == "text":
            return safe_texts
        if kind == "json":
            parse = _json_text_sqlite if self.sqlite else _json_text
            return lambda values: safe_texts([parse(v) for v in values])
        if kind == "timestamp":
            return _timestamp_texts if self.sqlite else timestamp_values
        if kind == "boolean":
            return lambda values: [
                None if v is None else ("true" if v else "false") for v in values
            ]
        if kind == "date" and not self.sqlite:
            return lambda values: [None if v is None else v.isoformat() for v in values]
        if kind == "binary":
            return lambda values: [None if v is None else bytes(v).hex() for v in values]
        return None

    def arrow(self, kind: str, values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
        """``values`` of one column as an Arrow array of ``arrow_type``."""
        if kind == "json":
            convert = _json_text_sqlite if self.sqlite else _json_text
            return pa.array([convert(v) for v in values], pa.string())
        if self.sqlite and kind == "timestamp":
            return pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(arrow_type)
        if self.sqlite and kind == "boolean":
            return pa.array([None if v is None else bool(v) for v in values], arrow_type)
        if self.sqlite and kind == "date":
            return pa.array(values, pa.string()).cast(arrow_type)
        return pa.array(values, arrow_type)


def safe_texts(values: Sequence[str | None]) -> list[str | None]:
    """The formula rule (:data:`pipeline.dictionary.FORMULA_RULE`) over a column of text."""
    return ["'" + v if v and v[0] in FORMULA_TRIGGERS else v for v in values]


def _json_text(value: Any) -> str | None:
    """Compact JSON with sorted keys; JSON ``null`` is NULL (the loader writes both forms)."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _json_text_sqlite(value: str | None) -> str | None:
    return None if value is None else _json_text(json.loads(value))


def _timestamp_texts(values: Sequence[str | None]) -> list[str | None]:
    """SQLite's stored UTC text (``YYYY-MM-DD HH:MM:SS[.ffffff]``) as ISO 8601 with ``Z``."""
    return [
        None
        if v is None
        else (v[:10] + "T" + v[11:19] + "Z")
        if len(v) == 19 or (len(v) == 26 and v.endswith(".000000"))
        else _timestamp_text(v)
        for v in values
    ]


def _timestamp_text(value: str | None) -> str | None:
    """One stored UTC text timestamp as ISO 8601 with ``Z``, whatever its precision."""
    if value is None:
        return None
    return timestamp_value(datetime.fromisoformat(value).replace(tzinfo=UTC))


def timestamp_values(values: Sequence[datetime | None]) -> list[str | None]:
    return [timestamp_value(v) for v in values]


def timestamp_value(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC with ``Z``, microseconds only when present."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_utc(value: Any) -> str | None:
    """A timestamp from either driver (SQLite text, PostgreSQL datetime) as ISO 8601 UTC."""
    if value is None or isinstance(value, str):
        return _timestamp_text(value)
    return timestamp_value(value)
