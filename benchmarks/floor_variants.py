"""Design experiments on the "same rows" floor of a Google first import (issue 11).

Usage::

    python benchmarks/floor_variants.py CSV [--batch 5000]

The same rows as ``google_ingest.py``'s floor (ad, targeting items, countries, spend,
observation; plain ``executemany``, no checks), written five ways, each timed on the same file:

- ``text keys``: every child table keyed by Google's random-looking ad id (the floor as it was);
- ``integer keys``: ads get an integer surrogate key, children are keyed by it (adlib's shape);
- ``+ batch sorted``: as above, each batch inserted in ad-id order;
- ``+ indexes after``: as above, into tables without secondary indexes, built after the load;
- ``+ staging``: raw rows into one staging table, ads by one set-based ``INSERT … SELECT``.

It answers where a first import's time goes below adlib's own code: the row count, the keys,
or the order rows reach the indexes.
"""

from __future__ import annotations

import argparse
import itertools
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bulk_bench import rows_of
from google_ingest import _FLOOR_AD_COLUMNS, _FLOOR_TABLES, floor_rows

_INT_TABLES = {
    "targeting": ("ad INTEGER, kind TEXT, value TEXT, included INTEGER", "ad, kind, value"),
    "countries": ("ad INTEGER, country TEXT", "ad, country"),
    "spend": ("ad INTEGER, currency TEXT, lower TEXT, upper TEXT", "ad, currency"),
    "observations": ("ad INTEGER, impressions TEXT, lower TEXT", "ad"),
}


def connect(path: Path) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "cache_size = -65536"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def text_keys(csv_path: Path, db: Path, batch: int, **_: Any) -> None:
    conn = connect(db)
    names = ", ".join(f'"{c}"' for c in _FLOOR_AD_COLUMNS)
    conn.execute(f'CREATE TABLE ads ({names}, PRIMARY KEY ("Ad_ID"))')
    for table, (columns, key) in _FLOOR_TABLES.items():
        conn.execute(f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({key}))")
    _load(conn, csv_path, batch, lambda out, next_id: out)
    conn.close()


def integer_keys(
    csv_path: Path, db: Path, batch: int, *, sort: bool = False, indexes_after: bool = False
) -> None:
    conn = connect(db)
    names = ", ".join(f'"{c}"' for c in _FLOOR_AD_COLUMNS)
    conn.execute(f"CREATE TABLE ads (id INTEGER PRIMARY KEY, {names})")
    for table, (columns, key) in _INT_TABLES.items():
        body = columns if indexes_after else f"{columns}, PRIMARY KEY ({key})"
        conn.execute(f"CREATE TABLE {table} ({body})")
    if not indexes_after:
        conn.execute('CREATE UNIQUE INDEX ads_key ON ads ("Ad_ID")')

    def renumber(out: dict[str, list[tuple[Any, ...]]], next_id: int) -> dict[str, list[Any]]:
        ads = out["ads"]
        if sort:
            ads.sort(key=lambda row: row[0])
        ids = {row[0]: next_id + n for n, row in enumerate(ads)}
        result: dict[str, list[Any]] = {"ads": [(ids[r[0]], *r) for r in ads]}
        for table in _INT_TABLES:
            result[table] = [(ids[r[0]], *r[1:]) for r in out[table]]
            if sort:
                result[table].sort(key=lambda row: row[0])
        return result

    _load(conn, csv_path, batch, renumber)
    if indexes_after:
        conn.execute('CREATE UNIQUE INDEX ads_key ON ads ("Ad_ID")')
        for table, (_, key) in _INT_TABLES.items():
            conn.execute(f"CREATE INDEX {table}_key ON {table} ({key})")
        conn.commit()
    conn.close()


def staging(csv_path: Path, db: Path, batch: int, **_: Any) -> None:
    """Raw rows into a staging table as ``.import`` would, then ads set-based."""
    conn = connect(db)
    rows = rows_of(csv_path)
    header = next(rows)
    at = {name: i for i, name in enumerate(header)}
    columns = ", ".join(f"c{i}" for i in range(len(header)))
    conn.execute(f"CREATE TABLE staging ({columns})")
    marks = ", ".join("?" for _ in header)
    while chunk := list(itertools.islice(rows, batch)):
        conn.executemany(f"INSERT INTO staging VALUES ({marks})", chunk)
    names = ", ".join(f'"{c}"' for c in _FLOOR_AD_COLUMNS)
    conn.execute(f"CREATE TABLE ads (id INTEGER PRIMARY KEY, {names})")
    picked = ", ".join(f"c{at[c]}" for c in _FLOOR_AD_COLUMNS)
    conn.execute(f"INSERT INTO ads ({names}) SELECT {picked} FROM staging ORDER BY c0")
    conn.execute('CREATE UNIQUE INDEX ads_key ON ads ("Ad_ID")')
    conn.commit()
    conn.close()


def _load(
    conn: sqlite3.Connection,
    csv_path: Path,
    batch: int,
    shape: Callable[[dict[str, list[tuple[Any, ...]]], int], dict[str, list[Any]]],
) -> None:
    rows = rows_of(csv_path)
    expand_row = floor_rows(next(rows))
    next_id = 1
    while chunk := list(itertools.islice(rows, batch)):
        out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in ("ads", *_FLOOR_TABLES)}
        for row in chunk:
            for table, values in expand_row(row).items():
                out[table] += values
        shaped = shape(out, next_id)
        next_id += len(out["ads"])
        for table, values in shaped.items():
            if values:
                marks = ", ".join("?" for _ in values[0])
                conn.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", values)
        conn.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="adlib-floor-"))
    variants: dict[str, Callable[..., None]] = {
        "text keys (the floor as it was)": text_keys,
        "integer keys": integer_keys,
        "integer keys + batch sorted by key": lambda *a, **k: integer_keys(*a, **k, sort=True),
        "integer keys + indexes built after": lambda *a, **k: integer_keys(
            *a, **k, indexes_after=True
        ),
        "staging table + set-based ads (ads only)": staging,
    }
    for number, (name, variant) in enumerate(variants.items()):
        started = time.perf_counter()
        variant(args.csv, folder / f"v{number}.sqlite", args.batch)
        print(f"{name:45} {time.perf_counter() - started:8.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
