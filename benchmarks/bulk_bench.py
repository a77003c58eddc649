"""What the bulk-file benchmarks (Google's bundle, Snap's yearly file) share.

Each benchmark generates one large CSV and a copy of it with 1% of the ads changed, then
measures in one run, on the same files: the baselines (Python's csv reader over the file,
``sqlite3 .import``, the "same rows" floor), and adlib itself through ``adlib collect`` in a
subprocess whose peak RSS is taken: the first import, the unchanged file (one conditional
request), and the nightly re-import with 1% of the ads changed, on SQLite and, with
``--pg-url``, on PostgreSQL. Every figure is printed against its target (issue 11) and the
script exits 1 if one is missed. Absolute seconds depend on the machine and its load; the
targets are ratios to baselines taken in the same run.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent

TARGET_NIGHTLY_SQLITE = 3.0  # x the Python csv parse of the same file
TARGET_NIGHTLY_PG = 5.0
TARGET_FIRST_SQLITE = 10.0  # x sqlite3 .import of the same file
TARGET_FIRST_PG = 1.5  # x adlib's own SQLite first import
TARGET_RSS_MB = 300.0
TARGET_UNCHANGED_SECONDS = 2.0
TARGET_SIZE_RATIO = 2.5  # database bytes / CSV bytes


@dataclass(slots=True)
class Result:
    name: str
    seconds: float
    peak_rss_mb: float | None = None


def announce(result: Result) -> Result:
    """Print each measurement as it is taken: a long run should not end with nothing shown."""
    rss = f", peak {result.peak_rss_mb:.0f} MB" if result.peak_rss_mb is not None else ""
    print(f"  {result.name}: {result.seconds:.2f} s{rss}", flush=True)
    return result


def timed(name: str, action: Callable[[], Any]) -> Result:
    started = time.perf_counter()
    action()
    return announce(Result(name, time.perf_counter() - started))


def csv_reader_only(csv_path: Path) -> None:
    """Python's csv reader over the whole file: the floor for any Python parser."""
    csv.field_size_limit(1 << 30)
    with csv_path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for _ in csv.reader(handle):
            pass


def sqlite_import(csv_path: Path, workdir: Path) -> None:
    """The sqlite3 shell's CSV import into one flat table of text columns."""
    database = workdir / "flat.sqlite"
    database.unlink(missing_ok=True)
    subprocess.run(
        ["sqlite3", str(database), ".mode csv", f".import --csv {csv_path} flat"], check=True
    )


def same_rows_floor(
    csv_path: Path,
    workdir: Path,
    ad_columns: tuple[str, ...],
    tables: dict[str, tuple[str, str]],
    expand: Callable[[list[str]], Callable[[list[str]], dict[str, list[tuple[Any, ...]]]]],
    batch: int = 5000,
) -> None:
    """The floor of adlib's work: the same rows into tables of the same keys, no checks.

    Python's csv reader, then per row what ``expand(header)`` makes of it (the ad row, keyed by
    its first column, and its child rows for ``tables``: name → (columns, key)), written by
    plain ``executemany`` and committed every ``batch`` rows. What adlib adds on top
    (normalising, hashing, upserts, change history) is its own cost; what this adds over
    ``.import`` is the cost of the relational schema itself.
    """
    import sqlite3

    database = workdir / "same_rows.sqlite"
    database.unlink(missing_ok=True)
    conn = sqlite3.connect(database)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")
    names = ", ".join(f'"{c}"' for c in ad_columns)
    conn.execute(f'CREATE TABLE ads ({names}, PRIMARY KEY ("{ad_columns[0]}"))')
    for table, (columns, key) in tables.items():
        conn.execute(
            f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({key}), "
            f'FOREIGN KEY (ad_id) REFERENCES ads ("{ad_columns[0]}") ON DELETE CASCADE)'
        )
    rows = rows_of(csv_path)
    expand_row = expand(next(rows))
    while chunk := list(itertools.islice(rows, batch)):
        out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in ("ads", *tables)}
        for row in chunk:
            for table, values in expand_row(row).items():
                out[table] += values
        for table, values in out.items():
            if values:
                marks = ", ".join("?" for _ in values[0])
                conn.executemany(
                    f"INSERT INTO {table} VALUES ({marks}) ON CONFLICT DO NOTHING", values
                )
        conn.commit()
    conn.close()


def rows_of(csv_path: Path) -> Iterator[list[str]]:
    csv.field_size_limit(1 << 30)
    with csv_path.open(encoding="utf-8", errors="replace", newline="") as handle:
        yield from csv.reader(handle)


def write_changed(
    source: Path, target: Path, change: Callable[[list[str], list[str]], list[str]], every: int
) -> int:
    """``source`` with ``change(header, row)`` applied to every ``every``-th row; how many."""
    changed = 0
    with target.open("w", encoding="utf-8", errors="replace", newline="") as handle:
        writer = csv.writer(handle)
        rows = rows_of(source)
        header = next(rows)
        writer.writerow(header)
        for number, row in enumerate(rows):
            if number % every == every // 2:
                row = change(header, row)
                changed += 1
            writer.writerow(row)
    return changed


def adlib_collect(config: Path, source: str) -> Result:
    """``adlib collect`` in a subprocess: its wall time and peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "collect", "--config", str(config), "-q",
         "--source", source],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"adlib collect failed:\n{output}")
    return Result("", seconds, usage.ru_maxrss / 1024)


def write_config(workdir: Path, database_url: str, sources: dict[str, Any]) -> Path:
    config = workdir / f"config-{uuid.uuid4().hex[:8]}.yaml"
    data = {"database": {"url": database_url}, "data_dir": str(workdir / f"data-{config.stem}")}
    config.write_text(yaml.safe_dump({**data, "sources": sources}))
    return config


def fresh_pg_database(admin_url: str) -> str:
    """A new database on the server of ``admin_url`` (dropped by hand after a look)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"adlib_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def query(database_url: str, sql: str) -> Any:
    """One scalar from ``database_url``."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def database_bytes(database_url: str) -> int:
    """Size on disk: the SQLite file (and its WAL), or PostgreSQL's ``pg_database_size``."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    return int(query(database_url, "SELECT pg_database_size(current_database())"))


@dataclass(slots=True)
class AdlibRuns:
    """adlib on one engine: first import, unchanged file, nightly with 1% changed."""

    first: Result
    unchanged: Result
    nightly: Result
    size_bytes: int


def adlib_runs(
    label: str,
    config: Path,
    source: str,
    database_url: str,
    requests: Callable[[], int],
    publish_changed: Callable[[], int],
    restore: Callable[[], None],
) -> AdlibRuns:
    """The three runs against one database; checks that the nightly observed exactly the
    changed ads and that the unchanged run made one request."""
    first = adlib_collect(config, source)
    announce(Result(f"adlib first import ({label})", first.seconds, first.peak_rss_mb))
    size = database_bytes(database_url)
    before = requests()
    unchanged = adlib_collect(config, source)
    announce(Result(f"adlib unchanged file ({label})", unchanged.seconds, unchanged.peak_rss_mb))
    assert requests() == before + 1, "the unchanged run made more than one request"
    observations = query(database_url, "SELECT COUNT(*) FROM ad_observations")
    changed = publish_changed()
    nightly = adlib_collect(config, source)
    announce(Result(f"adlib nightly, 1% changed ({label})", nightly.seconds, nightly.peak_rss_mb))
    added = query(database_url, "SELECT COUNT(*) FROM ad_observations") - observations
    assert added == changed, f"{changed} ads changed but {added} observations were added"
    restore()
    return AdlibRuns(first, unchanged, nightly, size)


def adlib_on_engines(
    workdir: Path,
    pg_url: str | None,
    source: str,
    settings: dict[str, Any],
    requests: Callable[[], int],
    publish_changed: Callable[[], int],
    restore: Callable[[], None],
) -> dict[str, AdlibRuns]:
    """:func:`adlib_runs` into a fresh SQLite database, and a fresh PostgreSQL one if given."""
    urls = {"SQLite": f"sqlite:///{workdir / 'adlib.sqlite'}"}
    (workdir / "adlib.sqlite").unlink(missing_ok=True)
    if pg_url:
        urls["PostgreSQL"] = fresh_pg_database(pg_url)
    return {
        label: adlib_runs(label, write_config(workdir, url, {source: settings}), source, url,
                          requests, publish_changed, restore)
        for label, url in urls.items()
    }  # fmt: skip


def adlib_results(runs: dict[str, AdlibRuns], file: str) -> list[Result]:
    """The adlib runs as rows of the measurement table."""
    results = []
    for label, run in runs.items():
        results += [
            Result(f"adlib first import ({label})", run.first.seconds, run.first.peak_rss_mb),
            Result(f"adlib unchanged {file} ({label})", run.unchanged.seconds,
                   run.unchanged.peak_rss_mb),
            Result(f"adlib nightly, 1% changed ({label})", run.nightly.seconds,
                   run.nightly.peak_rss_mb),
        ]  # fmt: skip
    return results


@dataclass(slots=True)
class Figure:
    """One measured figure against its target (lower is better)."""

    name: str
    value: float
    target: float
    unit: str

    @property
    def met(self) -> bool:
        return self.value <= self.target


def figures(
    csv_bytes: int,
    parse: Result,
    flat_import: Result,
    sqlite_runs: AdlibRuns,
    pg_runs: AdlibRuns | None,
) -> list[Figure]:
    """Every target of issue 11, the nightly case first."""
    found = [
        Figure("nightly, 1% changed, SQLite (x csv parse)",
               sqlite_runs.nightly.seconds / parse.seconds, TARGET_NIGHTLY_SQLITE, "x"),
    ]  # fmt: skip
    if pg_runs is not None:
        found.append(Figure("nightly, 1% changed, PostgreSQL (x csv parse)",
                            pg_runs.nightly.seconds / parse.seconds, TARGET_NIGHTLY_PG, "x"))  # fmt: skip
    found.append(Figure("first import, SQLite (x sqlite3 .import)",
                        sqlite_runs.first.seconds / flat_import.seconds, TARGET_FIRST_SQLITE, "x"))  # fmt: skip
    if pg_runs is not None:
        found.append(Figure("first import, PostgreSQL (x adlib SQLite)",
                            pg_runs.first.seconds / sqlite_runs.first.seconds, TARGET_FIRST_PG, "x"))  # fmt: skip
    for label, runs in (("SQLite", sqlite_runs), ("PostgreSQL", pg_runs)):
        if runs is None:
            continue
        peak = max(r.peak_rss_mb or 0.0 for r in (runs.first, runs.unchanged, runs.nightly))
        found += [
            Figure(f"peak memory, {label}", peak, TARGET_RSS_MB, "MB"),
            Figure(f"unchanged file, {label}", runs.unchanged.seconds, TARGET_UNCHANGED_SECONDS, "s"),
            Figure(f"database size, {label} (x CSV)", runs.size_bytes / csv_bytes,
                   TARGET_SIZE_RATIO, "x"),
        ]  # fmt: skip
    return found


def report(results: list[Result], found: list[Figure]) -> int:
    """Print the measurements and the figures; 0 if every target is met, else 1."""
    print(f"\n{'measurement':48} {'seconds':>9} {'peak MB':>8}")
    for r in results:
        rss = f"{r.peak_rss_mb:8.0f}" if r.peak_rss_mb is not None else ""
        print(f"{r.name:48} {r.seconds:9.2f} {rss}")
    print(f"\n{'figure':48} {'value':>9} {'target':>9}  met")
    for f in found:
        print(f"{f.name:48} {f.value:8.2f}{f.unit:1} {'<= ':>3}{f.target:5.1f}{f.unit:1}  "
              f"{'yes' if f.met else 'NO'}")  # fmt: skip
    misses = [f.name for f in found if not f.met]
    print("\ntargets:", "all met" if not misses else "MISSED: " + "; ".join(misses))
    return 1 if misses else 0


@dataclass(slots=True)
class Baselines:
    """A benchmark's generated files and the same-run baselines its figures are ratios of."""

    workdir: Path
    pg_url: str | None
    csv_path: Path
    changed_path: Path
    #: Rows changed in the nightly copy.
    changed: int
    csv_bytes: int
    parse: Result
    flat: Result
    floor: Result

    def finish(self, runs: dict[str, AdlibRuns], file: str) -> int:
        """Print every measurement and figure of the run; 0 if every target is met."""
        results = [self.parse, self.flat, self.floor, *adlib_results(runs, file)]
        found = figures(
            self.csv_bytes, self.parse, self.flat, runs["SQLite"], runs.get("PostgreSQL")
        )
        return report(results, found)


def baselines(
    description: str,
    default_rows: int,
    names: tuple[str, str],
    write: Callable[[Path, int], int],
    change: Callable[[list[str], list[str]], list[str]],
    floor: tuple[
        tuple[str, ...],
        dict[str, tuple[str, str]],
        Callable[[list[str]], Callable[[list[str]], dict[str, list[tuple[Any, ...]]]]],
    ],
) -> Baselines:
    """Parse the command line, generate the file (``names[0]``, by ``write``) and its nightly
    copy (``names[1]``, every 100th row through ``change``), and take the baselines."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, default=default_rows)
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument("--pg-url", default=os.environ.get("ADLIB_BENCH_PG_URL"),
                        help="PostgreSQL admin URL: also import into a fresh database there")  # fmt: skip
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="adlib-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    csv_path, changed_path = workdir / names[0], workdir / names[1]
    print(f"generating {args.rows} rows into {csv_path} ...", flush=True)
    size = write(csv_path, args.rows)
    changed = write_changed(csv_path, changed_path, change, every=100)
    print(f"  {size / 1e6:.0f} MB; {changed} ads changed in the nightly copy", flush=True)
    parse = timed("python csv reader alone", lambda: csv_reader_only(csv_path))
    flat = timed("sqlite3 .import --csv (flat table)", lambda: sqlite_import(csv_path, workdir))
    same = timed("same rows, same tables, no checks (floor)",
                 lambda: same_rows_floor(csv_path, workdir, *floor))  # fmt: skip
    return Baselines(workdir, args.pg_url, csv_path, changed_path, changed, size, parse, flat, same)
