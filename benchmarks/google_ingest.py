"""Benchmark: import of a large Google creative-stats file, against baselines on the same file.

Usage::

    python benchmarks/google_ingest.py [--rows 1000000] [--workdir DIR] [--pg-url URL]

Generates a creative-stats CSV of ``--rows`` rows (about 600 bytes a row, one multi-megabyte
targeting cell, :func:`collectors.replicas.google.write_creative_stats_csv`), then measures in
the same run, on the same file:

- ``sqlite3 .import --csv`` into one flat table (the floor for "get the rows into SQLite");
- Python's ``csv`` reader alone (the floor for any Python parser);
- the same rows adlib writes (ad, targeting items, countries, spend, observation) into tables
  of the same keys with the csv reader and plain ``executemany``, no checks: the floor for
  this schema from Python;
- ``sqlite-utils insert --csv`` on a 100,000-row slice (a common Python tool);
- adlib's normalised import: the file zipped into a bundle, served by the Google replica on
  loopback, collected by ``adlib collect`` (``pipeline.runner.run_collection``) in a
  subprocess whose peak RSS is measured, into a fresh SQLite database (and PostgreSQL with
  ``--pg-url``);
- a second ``adlib collect`` on the unchanged bundle (one conditional request, no writes).

Targets (issue 3): adlib's SQLite import within 3x the time of ``.import``; peak memory under
300 MB; the unchanged second run under 2 s. The script prints a table and exits 1 if a
target is missed.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collectors.replicas.google import GoogleBundleReplica, write_creative_stats_csv  # noqa: E402
from collectors.replicas.server import ReplicaServer  # noqa: E402

SLICE_ROWS = 100_000
TARGET_RATIO = 3.0
TARGET_RSS_MB = 300.0
TARGET_UNCHANGED_SECONDS = 2.0


@dataclass(slots=True)
class Result:
    name: str
    rows: int
    seconds: float
    peak_rss_mb: float | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def timed(name: str, rows: int, action: Callable[[], Any]) -> Result:
    started = time.perf_counter()
    action()
    return announce(Result(name, rows, time.perf_counter() - started))


def announce(result: Result) -> Result:
    """Print each measurement as it is taken: a long run should not end with nothing shown."""
    rss = f", peak {result.peak_rss_mb:.0f} MB" if result.peak_rss_mb is not None else ""
    print(f"  {result.name}: {result.seconds:.2f} s{rss}", flush=True)
    return result


def sqlite_import(csv_path: Path, workdir: Path) -> None:
    """The sqlite3 shell's CSV import into one flat table of text columns."""
    database = workdir / "flat.sqlite"
    database.unlink(missing_ok=True)
    subprocess.run(
        ["sqlite3", str(database), ".mode csv", f".import --csv {csv_path} creative_stats"],
        check=True,
    )


def csv_reader_only(csv_path: Path) -> None:
    csv.field_size_limit(1 << 30)
    with csv_path.open(encoding="utf-8", newline="") as handle:
        for _ in csv.reader(handle):
            pass


_FLOOR_AD_COLUMNS = (
    "Ad_ID", "Advertiser_ID", "Ad_Type", "Ad_URL", "Date_Range_Start", "Date_Range_End",
    "First_Served_Timestamp", "Last_Served_Timestamp", "Impressions",
)  # fmt: skip
_FLOOR_TABLES = {
    "targeting": ("ad_id TEXT, kind TEXT, value TEXT, included INTEGER", "ad_id, kind, value"),
    "countries": ("ad_id TEXT, country TEXT", "ad_id, country"),
    "spend": ("ad_id TEXT, currency TEXT, lower TEXT, upper TEXT", "ad_id, currency"),
    "observations": ("ad_id TEXT, impressions TEXT, lower TEXT", "ad_id"),
}


def same_rows_floor(csv_path: Path, workdir: Path, batch: int = 5000) -> None:
    """The floor of adlib's work: the same rows into tables of the same shape, no checks.

    Python's csv reader, then per row the ad row, its targeting items (age, gender, included and
    excluded geo, split naively on ``", "``), its countries, its spend range(s) and an
    observation, written by plain ``executemany`` with the same keys adlib has, committed every
    ``batch`` rows. What adlib adds on top (normalising, hashing, upserts, change history) is
    its own cost; what this adds over ``.import`` is the cost of the relational schema itself.
    """
    import sqlite3

    database = workdir / "same_rows.sqlite"
    database.unlink(missing_ok=True)
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"CREATE TABLE ads ({', '.join(_FLOOR_AD_COLUMNS)}, PRIMARY KEY (Ad_ID))")
    for table, (columns, key) in _FLOOR_TABLES.items():
        conn.execute(
            f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({key}), "
            "FOREIGN KEY (ad_id) REFERENCES ads (Ad_ID) ON DELETE CASCADE)"
        )
    csv.field_size_limit(1 << 30)
    with csv_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        at = {name: i for i, name in enumerate(header)}
        ad_columns = [at[name] for name in _FLOOR_AD_COLUMNS]
        ranges = [(name[-3:], i, at[name.replace("Min", "Max")])
                  for name, i in at.items() if name.startswith("Spend_Range_Min_")]  # fmt: skip
        lists = [("age", at["Age_Targeting"], 1), ("gender", at["Gender_Targeting"], 1),
                 ("geo", at["Geo_Targeting_Included"], 1),
                 ("geo", at["Geo_Targeting_Excluded"], 0)]  # fmt: skip
        regions, impressions = at["Regions"], at["Impressions"]
        while True:
            rows = list(itertools.islice(reader, batch))
            if not rows:
                break
            out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in ("ads", *_FLOOR_TABLES)}
            for row in rows:
                ad_id = row[0]
                out["ads"].append(tuple(row[i] for i in ad_columns))
                for kind, column, included in lists:
                    if row[column]:
                        out["targeting"] += [(ad_id, kind, v, included)
                                             for v in row[column].split(", ")]  # fmt: skip
                out["countries"] += [(ad_id, c) for c in row[regions].split(",") if c]
                out["spend"] += [(ad_id, cur, row[lo], row[hi])
                                 for cur, lo, hi in ranges if row[lo] not in ("", "0")]  # fmt: skip
                out["observations"].append((ad_id, row[impressions], None))
            for table, values in out.items():
                if values:
                    marks = ", ".join("?" for _ in values[0])
                    conn.executemany(
                        f"INSERT INTO {table} VALUES ({marks}) ON CONFLICT DO NOTHING", values
                    )
            conn.commit()
    conn.close()


def write_slice(csv_path: Path, slice_path: Path, rows: int) -> None:
    with csv_path.open(encoding="utf-8", newline="") as source, slice_path.open("w") as target:
        target.writelines(itertools.islice(source, rows + 1))


def sqlite_utils_insert(slice_path: Path, workdir: Path) -> None:
    database = workdir / "sqlite_utils.sqlite"
    database.unlink(missing_ok=True)
    tool = Path(sys.executable).parent / "sqlite-utils"
    subprocess.run(
        [str(tool), "insert", str(database), "creative_stats", str(slice_path), "--csv"],
        check=True,
    )


def adlib_collect(config: Path) -> tuple[float, float, str]:
    """``adlib collect`` in a subprocess: (seconds, peak RSS in MB, output)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "collect", "--config", str(config), "-q"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"adlib collect failed:\n{output}")
    return seconds, usage.ru_maxrss / 1024, output


def write_config(workdir: Path, database_url: str, bundle_url: str) -> Path:
    config = workdir / f"config-{uuid.uuid4().hex[:8]}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": database_url},
                "data_dir": str(workdir / "data"),
                "sources": {"google": {"bundle_url": bundle_url, "batch_size": 5000}},
            }
        )
    )
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


def adlib_runs(
    label: str, database_url: str, workdir: Path, server: ReplicaServer, bundle_url: str, rows: int
) -> list[Result]:
    """First import and the unchanged second run, into ``database_url``."""
    shutil.rmtree(workdir / "data", ignore_errors=True)
    config = write_config(workdir, database_url, bundle_url)
    seconds, rss, _ = adlib_collect(config)
    announce(Result(f"adlib collect ({label})", rows, seconds, rss))
    requests = len(server.requests)
    again, rss_again, _ = adlib_collect(config)
    assert len(server.requests) == requests + 1, "the unchanged run made more than one request"
    return [
        Result(f"adlib collect ({label})", rows, seconds, rss),
        announce(Result(f"adlib collect, unchanged ({label})", 0, again, rss_again)),
    ]


def report(results: list[Result], baseline: Result) -> None:
    print(f"\n{'measurement':44} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'x .import':>9} "
          f"{'peak MB':>8}")  # fmt: skip
    for r in results:
        ratio = r.seconds / baseline.seconds if r.rows else float("nan")
        rss = f"{r.peak_rss_mb:8.0f}" if r.peak_rss_mb is not None else f"{'':8}"
        print(f"{r.name:44} {r.rows:>10} {r.seconds:9.2f} {r.rows_per_second:10.0f} "
              f"{ratio:9.2f} {rss}")  # fmt: skip


def check_targets(results: list[Result], baseline: Result) -> list[str]:
    sqlite_run = next(r for r in results if r.name == "adlib collect (SQLite)")
    unchanged = next(r for r in results if r.name == "adlib collect, unchanged (SQLite)")
    misses = []
    if sqlite_run.seconds > TARGET_RATIO * baseline.seconds:
        misses.append(f"SQLite import {sqlite_run.seconds / baseline.seconds:.1f}x .import")
    if sqlite_run.peak_rss_mb is not None and sqlite_run.peak_rss_mb > TARGET_RSS_MB:
        misses.append(f"peak RSS {sqlite_run.peak_rss_mb:.0f} MB")
    if unchanged.seconds > TARGET_UNCHANGED_SECONDS:
        misses.append(f"unchanged run {unchanged.seconds:.1f} s")
    return misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument("--pg-url", default=os.environ.get("ADLIB_BENCH_PG_URL"),
                        help="PostgreSQL admin URL: also import into a fresh database there")  # fmt: skip
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="adlib-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    csv_path = workdir / "google-political-ads-creative-stats.csv"
    print(f"generating {args.rows} rows into {csv_path} ...", flush=True)
    size = write_creative_stats_csv(csv_path, args.rows)
    print(f"  {size / 1e6:.0f} MB")
    slice_path = workdir / "slice.csv"
    write_slice(csv_path, slice_path, min(SLICE_ROWS, args.rows))

    baseline = timed("sqlite3 .import --csv (flat table)", args.rows,
                     lambda: sqlite_import(csv_path, workdir))  # fmt: skip
    results = [
        baseline,
        timed("python csv reader alone", args.rows, lambda: csv_reader_only(csv_path)),
        timed("same rows, same tables, no checks (floor)", args.rows,
              lambda: same_rows_floor(csv_path, workdir)),
        timed(f"sqlite-utils insert --csv ({min(SLICE_ROWS, args.rows)} rows)",
              min(SLICE_ROWS, args.rows), lambda: sqlite_utils_insert(slice_path, workdir)),
    ]  # fmt: skip
    print("zipping the bundle ...", flush=True)
    replica = GoogleBundleReplica(workdir / "bundle", ads=0, creative_stats=csv_path)
    with ReplicaServer(replica.handle) as server:
        bundle_url = replica.settings(server.url)["bundle_url"]
        sqlite_url = f"sqlite:///{workdir / 'adlib.sqlite'}"
        (workdir / "adlib.sqlite").unlink(missing_ok=True)
        results += adlib_runs("SQLite", sqlite_url, workdir, server, bundle_url, args.rows)
        if args.pg_url:
            pg_url = fresh_pg_database(args.pg_url)
            results += adlib_runs("PostgreSQL", pg_url, workdir, server, bundle_url, args.rows)
    report(results, baseline)
    misses = check_targets(results, baseline)
    print("\ntargets:", "all met" if not misses else "MISSED: " + "; ".join(misses))
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
