"""Benchmark: Snap's yearly PoliticalAds.csv, first import and nightly, against same-run baselines.

Usage::

    python benchmarks/snap_ingest.py [--rows 200000] [--workdir DIR] [--pg-url URL]

Snap republishes the current year's zip every day. This generates a ``PoliticalAds.csv`` of
``--rows`` rows in Snap's 38-column layout (:func:`collectors.replicas.snap.generated_row`) and
a copy with 1% of the ads changed (more spend and impressions), then measures in the same
run what :mod:`google_ingest` measures (see :mod:`bulk_bench`): Python's csv reader, ``sqlite3
.import``, the same-rows floor, and ``adlib collect`` for the first import, the unchanged zip
and the nightly re-import, against the same targets (issue 11). Exits 1 if one is missed.
"""

from __future__ import annotations

import csv
import random
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bulk_bench import adlib_on_engines, baselines  # noqa: E402

from collectors.replicas.bulkfile import BulkFileEndpoint  # noqa: E402
from collectors.replicas.server import ReplicaRequest, ReplicaResponse, ReplicaServer  # noqa: E402
from collectors.replicas.snap import PATH_TEMPLATE, generated_row, header_for  # noqa: E402
from collectors.snap import TARGETING_COLUMNS  # noqa: E402

YEAR = 2024

_FLOOR_AD_COLUMNS = ("ADID", "Currency Code", "Spend", "Impressions", "StartDate", "EndDate",
                     "OrganizationName", "PayingAdvertiserName")  # fmt: skip
_FLOOR_TABLES = {
    "targeting": ("ad_id TEXT, kind TEXT, value TEXT, included INTEGER", "ad_id, kind, value"),
    "creatives": ("ad_id TEXT, position INTEGER, url TEXT, properties TEXT", "ad_id, position"),
    "countries": ("ad_id TEXT, country TEXT", "ad_id, country"),
    "spend": ("ad_id TEXT, currency TEXT, lower TEXT, upper TEXT", "ad_id, currency"),
    "observations": ("ad_id TEXT, impressions TEXT, spend TEXT", "ad_id"),
}


def write_political_ads(path: Path, rows: int, seed: int = 0) -> int:
    """A generated ``PoliticalAds.csv`` of ``rows`` rows; returns its size in bytes."""
    rng = random.Random(seed)
    # One generated row carries bytes that are not UTF-8, as Snap's files have had.
    with path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        writer = csv.DictWriter(handle, header_for(YEAR), restval="", extrasaction="ignore")
        writer.writeheader()
        for number in range(rows):
            writer.writerow(generated_row(rng, YEAR, number))
    return path.stat().st_size


def zipped(csv_path: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(csv_path, "PoliticalAds.csv")
    return target


def floor_rows(header: list[str]) -> Callable[[list[str]], dict[str, list[tuple[Any, ...]]]]:
    """Per row: the ad, one targeting item per comma-separated value of every targeting
    column, a creative per ``;``-separated URL, its country, its spend and an observation."""
    at = {name: i for i, name in enumerate(header)}
    ad_columns = [at[name] for name in _FLOOR_AD_COLUMNS]
    lists = [(kind, at[column], int(included))
             for column, (kind, included) in TARGETING_COLUMNS.items() if column in at]  # fmt: skip
    urls, properties, country = at["CreativeUrl"], at["CreativeProperties"], at["CountryCode"]
    currency, spend, impressions = at["Currency Code"], at["Spend"], at["Impressions"]

    def expand(row: list[str]) -> dict[str, list[tuple[Any, ...]]]:
        ad_id = row[0]
        return {
            "ads": [tuple(row[i] for i in ad_columns)],
            "targeting": [
                (ad_id, kind, v, included)
                for kind, column, included in lists
                if row[column]
                for v in row[column].split(",")
            ],
            "creatives": [
                (ad_id, n, url, row[properties]) for n, url in enumerate(row[urls].split(";"))
            ],
            "countries": [(ad_id, row[country])],
            "spend": [(ad_id, row[currency], row[spend], row[spend])],
            "observations": [(ad_id, row[impressions], row[spend])],
        }

    return expand


def more_spend(header: list[str], row: list[str]) -> list[str]:
    """A changed ad: more spend and impressions (a new observation)."""
    changed = list(row)
    for column, extra in (("Spend", 100), ("Impressions", 5000)):
        changed[header.index(column)] = str(int(row[header.index(column)]) + extra)
    return changed


def main() -> int:
    base = baselines(
        __doc__.split("\n\n")[0], 200_000, ("PoliticalAds.csv", "PoliticalAds-changed.csv"),
        write_political_ads, more_spend, (_FLOOR_AD_COLUMNS, _FLOOR_TABLES, floor_rows),
    )  # fmt: skip
    original = zipped(base.csv_path, base.workdir / "snap-1.zip")
    nightly = zipped(base.changed_path, base.workdir / "snap-2.zip")
    endpoint = BulkFileEndpoint(original)
    path = PATH_TEMPLATE.format(year=YEAR)

    def handle(request: ReplicaRequest) -> ReplicaResponse:
        if request.path == path:
            return endpoint.handle(request)
        return ReplicaResponse(status=404, body=b"NoSuchKey", content_type="text/plain")

    def publish(zip_path: Path, count: int) -> int:
        endpoint.publish(zip_path)
        return count

    with ReplicaServer(handle) as server:
        runs = adlib_on_engines(
            base.workdir, base.pg_url, "snap",
            {"url_template": server.url + PATH_TEMPLATE, "years": [YEAR]},
            requests=lambda: len(server.requests),
            publish_changed=lambda: publish(nightly, base.changed),
            restore=lambda: publish(original, 0),
        )  # fmt: skip
    return base.finish(runs, "zip")


if __name__ == "__main__":
    raise SystemExit(main())
