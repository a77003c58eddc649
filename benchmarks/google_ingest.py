"""Benchmark: Google creative-stats import, first and nightly, against same-run baselines.

Usage::

    python benchmarks/google_ingest.py [--rows 1000000] [--workdir DIR] [--pg-url URL]

Generates a creative-stats CSV of ``--rows`` rows (about 600 bytes a row, one multi-megabyte
targeting cell, :func:`collectors.replicas.google.write_creative_stats_csv`) and a copy with
1% of the ads changed (a higher impressions bucket), then measures in the same run, on the
same file (see :mod:`bulk_bench`):

- Python's ``csv`` reader alone (the floor for any Python parser; the nightly target's unit);
- ``sqlite3 .import --csv`` into one flat table (the first import target's unit);
- the same rows adlib writes (ad, targeting items, countries, spend, observation) into tables
  of the same keys with the csv reader and plain ``executemany``, no checks: the floor for
  this schema from Python (printed, not a target);
- adlib: the file zipped into a bundle, served by the Google replica on loopback, collected by
  ``adlib collect`` into a fresh SQLite database (and PostgreSQL with ``--pg-url``): first
  import, the unchanged bundle again, then the bundle with 1% of the ads changed.

Targets (issue 11): nightly with 1% changed <= 3x the csv parse on SQLite, <= 5x on
PostgreSQL; first import <= 10x ``.import`` on SQLite and PostgreSQL <= 1.5x SQLite; peak
memory <= 300 MB; unchanged bundle <= 2 s; database <= 2.5x the CSV. Exits 1 if one is missed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bulk_bench import adlib_on_engines, baselines  # noqa: E402

from collectors.replicas.google import GoogleBundleReplica, write_creative_stats_csv  # noqa: E402
from collectors.replicas.server import ReplicaServer  # noqa: E402

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


def floor_rows(header: list[str]) -> Callable[[list[str]], dict[str, list[tuple[Any, ...]]]]:
    """Per row: the ad, its targeting items (age, gender, included and excluded geo, split
    naively on ``", "``), its countries, its spend range(s) and an observation."""
    at = {name: i for i, name in enumerate(header)}
    ad_columns = [at[name] for name in _FLOOR_AD_COLUMNS]
    ranges = [(name[-3:], i, at[name.replace("Min", "Max")])
              for name, i in at.items() if name.startswith("Spend_Range_Min_")]  # fmt: skip
    lists = [("age", at["Age_Targeting"], 1), ("gender", at["Gender_Targeting"], 1),
             ("geo", at["Geo_Targeting_Included"], 1),
             ("geo", at["Geo_Targeting_Excluded"], 0)]  # fmt: skip
    regions, impressions = at["Regions"], at["Impressions"]

    def expand(row: list[str]) -> dict[str, list[tuple[Any, ...]]]:
        ad_id = row[0]
        targeting = [(ad_id, kind, v, included) for kind, column, included in lists
                     if row[column] for v in row[column].split(", ")]  # fmt: skip
        return {
            "ads": [tuple(row[i] for i in ad_columns)],
            "targeting": targeting,
            "countries": [(ad_id, c) for c in row[regions].split(",") if c],
            "spend": [
                (ad_id, cur, row[lo], row[hi]) for cur, lo, hi in ranges if row[lo] not in ("", "0")
            ],
            "observations": [(ad_id, row[impressions], None)],
        }

    return expand


def raise_impressions(header: list[str], row: list[str]) -> list[str]:
    """A changed ad: a higher impressions bucket (a new observation)."""
    changed = list(row)
    changed[header.index("Impressions")] = (
        "> 10M" if row[header.index("Impressions")] != "> 10M" else "≤ 10k"
    )
    return changed


def main() -> int:
    base = baselines(
        __doc__.split("\n\n")[0], 1_000_000,
        ("google-political-ads-creative-stats.csv", "creative-stats-changed.csv"),
        write_creative_stats_csv, raise_impressions,
        (_FLOOR_AD_COLUMNS, _FLOOR_TABLES, floor_rows),
    )  # fmt: skip
    print("zipping the bundle ...", flush=True)
    replica = GoogleBundleReplica(base.workdir / "bundle", ads=0, creative_stats=base.csv_path)

    def publish(path: Path, count: int) -> int:
        replica.creative_stats = path
        replica.publish()
        return count

    with ReplicaServer(replica.handle) as server:
        runs = adlib_on_engines(
            base.workdir, base.pg_url, "google",
            {"bundle_url": replica.settings(server.url)["bundle_url"]},
            requests=lambda: len(server.requests),
            publish_changed=lambda: publish(base.changed_path, base.changed),
            restore=lambda: publish(base.csv_path, 0),
        )  # fmt: skip
    return base.finish(runs, "bundle")


if __name__ == "__main__":
    raise SystemExit(main())
