"""Cells of the bundle as Google spells them: impressions buckets, geo targeting, spend by currency."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from collectors.countries import is_country_name
from collectors.records import SpendRange
from collectors.values import parse_int

#: A spend-range column (``Spend_Range_Min_EUR``): its bound and currency.
SPEND_RANGE_COLUMN = re.compile(r"^Spend_Range_(Min|Max)_([A-Z]{3})$")
#: A per-currency amount column (``Spend_EUR``, ``Total_Spend_USD``): its currency.
SPEND_AMOUNT_COLUMN = re.compile(r"^(?:Total_)?Spend_([A-Z]{3})$")
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmMbB]?)$")
_MULTIPLIER = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


@lru_cache(maxsize=256)
def parse_impressions(bucket: str) -> tuple[int | None, int | None]:
    """Google's impressions bucket as (lower, upper); the top bucket has no upper bound.

    ``≤ 10k`` → (0, 10000); ``10k\u2013100k`` (en dash) or ``10k-100k`` → (10000, 100000); ``> 10M`` →
    (10000000, None); a bare number is exact. Anything else raises ``ValueError``.
    """
    text = bucket.strip().replace("\u2009", " ")
    if not text:
        return None, None
    for prefix in ("≤", "<=", "<"):
        if text.startswith(prefix):
            return 0, _count(text[len(prefix) :])
    for prefix in ("≥", ">=", ">"):
        if text.startswith(prefix):
            return _count(text[len(prefix) :]), None
    for dash in ("\u2013", "\u2014", "-"):  # en dash, em dash, hyphen
        if dash in text:
            low, _, high = text.partition(dash)
            return _count(low), _count(high)
    exact = _count(text)
    return exact, exact


def _count(text: str) -> int:
    match = _NUMBER.match(text.strip().replace(",", ""))
    if match is None:
        raise ValueError(f"not an impressions bucket: {text!r}")
    return round(float(match.group(1)) * _MULTIPLIER[match.group(2).lower()])


def split_geo_targeting(cell: str) -> list[str]:
    """Items of a geo-targeting cell, keeping media-market names whole.

    Items are joined by ``", "`` and each ends in its country (``23237,Virginia,United States``),
    but a media market's name has ``", "`` of its own (``Washington, DC (Hagerstown, MD),United
    States``). So pieces are glued together until one carries the item's own ``,`` (no space)
    before the country; a piece without one is a whole item only if it is a country's name.
    """
    items: list[str] = []
    pending: list[str] = []
    for piece in cell.split(", "):
        piece = piece.strip()
        if not piece:
            continue
        if pending:
            pending.append(piece)
            if "," in piece:
                items.append(", ".join(pending))
                pending = []
        elif "," in piece or is_country_name(piece):
            items.append(piece)
        else:
            pending.append(piece)
    items.extend(pending)  # an unterminated name: keep its pieces rather than lose them
    return items


def spend_currencies(header: Iterable[str]) -> list[str]:
    """Currencies with a ``Spend_Range_Min/Max_XXX`` column, in header order."""
    found: dict[str, None] = {}
    for column in header:
        match = SPEND_RANGE_COLUMN.match(column)
        if match:
            found[match.group(2)] = None
    return list(found)


def spend_ranges(values: Mapping[str, str], currencies: Iterable[str]) -> list[SpendRange]:
    """Every currency whose range is not empty or all zero (the purchase currency first)."""
    ranges = []
    for currency, min_column, max_column in _range_columns(tuple(currencies)):
        low_text = values.get(min_column, "")
        high_text = values.get(max_column, "")
        if low_text in _EMPTY_AMOUNTS and high_text in _EMPTY_AMOUNTS:
            continue  # the common case, ~40 cells a row: skip it without parsing
        lower = parse_int(low_text)
        upper = parse_int(high_text)
        if not lower and not upper:
            continue
        if lower and not upper:
            upper = None  # an empty or zero maximum above a real minimum: the open top bucket
        ranges.append(SpendRange(currency, lower or 0, upper))
    return ranges


_EMPTY_AMOUNTS = frozenset({"", "0"})


@lru_cache(maxsize=64)
def _range_columns(currencies: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    """Column names per currency, built once per header rather than once per row."""
    return tuple((c, f"Spend_Range_Min_{c}", f"Spend_Range_Max_{c}") for c in currencies)


def amount_columns(header: Iterable[str]) -> dict[str, str]:
    """Currency → column for per-currency amount columns (``Spend_EUR``, ``Total_Spend_USD``)."""
    found = {}
    for column in header:
        match = SPEND_AMOUNT_COLUMN.match(column)
        if match:
            found[match.group(1)] = column
    return found


def amounts(values: Mapping[str, str], columns: Mapping[str, str]) -> list[tuple[str, int]]:
    """Every published amount by currency, zeros included; only an empty cell is absent.

    In the aggregate files each currency column is a rounded conversion, so ``0`` is a value
    (spend below the rounding step) and a row of zeros still says the advertiser was listed.
    """
    found = []
    for currency, column in columns.items():
        amount = parse_int(values.get(column, ""))
        if amount is not None:
            found.append((currency, amount))
    return found
