"""Cell parsers shared by the bulk-file collectors (Google's bundle, Snap's yearly zips).

Bulk CSVs put everything in text: integers, amounts, timestamps in two or three spellings,
lists joined with commas. Every parser here returns ``None`` for an empty cell ("not
reported", never zero) and raises ``ValueError`` for a cell it cannot read, which the bulk
loop turns into a quarantined row.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

#: Commas that separate items: those not followed by a space. Names and addresses inside an
#: item keep ", " (``Washington, DC``), list separators have none (``Arizona,Colorado``).
_ITEM_COMMA = re.compile(r",(?!\s)")


def parse_int(text: str) -> int | None:
    """An integer cell, tolerating thousands separators (``1,234``) and ``12.0``."""
    stripped = text.strip().replace(",", "")
    if not stripped:
        return None
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return int(Decimal(stripped).to_integral_value())
    except (InvalidOperation, OverflowError):  # OverflowError: "Infinity" parses as a Decimal
        raise ValueError(f"not a number: {text!r}") from None


def parse_bool(text: str) -> bool | None:
    """``true``/``false`` in any case, ``1``/``0``, ``yes``/``no``; empty is ``None``."""
    lowered = text.strip().lower()
    if not lowered:
        return None
    if lowered in ("true", "1", "yes", "y", "t"):
        return True
    if lowered in ("false", "0", "no", "n", "f"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


@lru_cache(maxsize=8192)
def parse_utc(text: str) -> datetime | None:
    """A timestamp as UTC: ISO 8601, ``… UTC``, Snap's ``2019/04/25 08:00:57Z``, or a date.

    Naive values are taken as UTC (both platforms document UTC); a date alone is midnight.
    Cached: a million rows repeat a few thousand dates (datetimes are immutable).
    """
    stripped = text.strip()
    if not stripped:
        return None
    if stripped.endswith(" UTC"):
        stripped = stripped[:-4]
    if len(stripped) >= 10 and stripped[4] == "/" and stripped[7] == "/":
        stripped = f"{stripped[:4]}-{stripped[5:7]}-{stripped[8:]}"
    try:
        value = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"not a timestamp: {text!r}") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_date(text: str) -> date | None:
    """A ``YYYY-MM-DD`` (or ``YYYY/MM/DD``) date, ignoring a time part if one follows."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return date.fromisoformat(stripped[:10].replace("/", "-"))
    except ValueError:
        raise ValueError(f"not a date: {text!r}") from None


def split_items(text: str) -> list[str]:
    """Items of a comma-joined cell, keeping ``", "`` inside an item; empty items dropped."""
    if not text:
        return []
    return [item.strip() for item in _ITEM_COMMA.split(text) if item.strip()]


def split_list(text: str, separator: str = ",") -> list[str]:
    """Items of a cell joined by ``separator`` (spaces around items trimmed)."""
    if not text:
        return []
    return [item.strip() for item in text.split(separator) if item.strip()]
