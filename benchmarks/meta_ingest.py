"""Meta normalise+load throughput against a baseline measured in the same run.

    python benchmarks/meta_ingest.py [--ads 100000] [--pg postgresql://user@host/db]

1. The Meta replica renders N ads as real ``ads_archive`` response bodies (500 per page, every
   field the collector requests), written to a temporary folder so no variant holds them all
   in memory.
2. Each variant runs in its own process (so its peak RSS is its own) over the same files:
   * ``baseline``: ``json.loads`` of every page plus one plain ``executemany`` of the ads'
     scalar fields into a single flat table (sqlite3 / psycopg directly, no adlib code);
   * ``same_rows``: ``json.loads`` plus the rows adlib writes for each ad (the flat row, its
     regions, demographics, languages, platforms, creatives, country, spend, observation) by
     plain ``executemany`` into tables with the same keys and foreign keys, no checks: the
     floor of this schema from Python, so the cost of the schema and adlib's own show apart;
   * ``adlib``: what a collection does per page minus the network: ``json.loads``,
     ``collectors.meta.normalise`` for every ad, and ``pipeline.load.load_page`` in one
     transaction (raw archive, advertisers, funders, ads, every child table, observations,
     checkpoint).
3. Prints ads/s, the ratio to the baseline and peak memory. Targets (issue 2): adlib on
   SQLite >= 5,000 ads/s and >= 1/3 of the baseline's rate; peak memory < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PAGE_SIZE = 500
TOKEN = "benchmark-token-not-secret"


def generate_pages(folder: Path, n_ads: int) -> int:
    """Render ``n_ads`` replica ads as response bodies, one file per page; returns pages."""
    from collectors.meta import FIELDS
    from collectors.replicas import ReplicaRequest
    from collectors.replicas.meta import MetaReplica

    replica = MetaReplica(
        n_ads=n_ads, countries=("US",), seed=1, token=TOKEN, page_size_cap=PAGE_SIZE
    )
    query = {
        "access_token": TOKEN,
        "ad_reached_countries": "['US']",
        "limit": str(PAGE_SIZE),
        "ad_active_status": "ALL",
        # Every field the collector asks for: without ``fields`` Graph (and the replica) sends
        # only id, page_id, delivery dates and the snapshot URL.
        "fields": ",".join(FIELDS),
    }
    pages = 0
    while True:
        response = replica(ReplicaRequest("GET", "/v23.0/ads_archive", dict(query), {}))
        body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
        data = json.loads(body)
        if not data.get("data"):
            break
        (folder / f"page-{pages:05d}.json").write_bytes(body)
        pages += 1
        after = data.get("paging", {}).get("cursors", {}).get("after")
        if not after or "next" not in data.get("paging", {}):
            break
        query["after"] = after
    return pages


_FLAT_COLUMNS = (
    "id",
    "page_id",
    "page_name",
    "bylines",
    "currency",
    "ad_creation_time",
    "ad_delivery_start_time",
    "ad_delivery_stop_time",
    "spend_lower",
    "spend_upper",
    "impressions_lower",
    "impressions_upper",
    "audience_lower",
    "audience_upper",
)


_FLAT_TYPES = ("TEXT",) * 8 + ("BIGINT",) * 6


def _flat_row(ad: dict[str, Any]) -> tuple[Any, ...]:
    def bound(name: str, key: str) -> Any:
        value = (ad.get(name) or {}).get(key)
        return int(value) if value is not None else None

    return (
        ad.get("id"),
        ad.get("page_id"),
        ad.get("page_name"),
        ad.get("bylines"),
        ad.get("currency"),
        ad.get("ad_creation_time"),
        ad.get("ad_delivery_start_time"),
        ad.get("ad_delivery_stop_time"),
        bound("spend", "lower_bound"),
        bound("spend", "upper_bound"),
        bound("impressions", "lower_bound"),
        bound("impressions", "upper_bound"),
        bound("estimated_audience_size", "lower_bound"),
        bound("estimated_audience_size", "upper_bound"),
    )


def _connect(url: str) -> tuple[Any, str]:
    """A plain DB-API connection (no adlib code) and its parameter mark."""
    if url.startswith("sqlite"):
        import sqlite3

        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn, "?"
    import psycopg

    return psycopg.connect(url), "%s"


def _insert_sql(table: str, columns: tuple[str, ...], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(mark for _ in columns)})"


def _create_flat_ads(conn: Any, key: str = "") -> None:
    """The baseline's one flat table (``key``: its primary key, when children reference it)."""
    typed = ", ".join(f"{c} {t}" for c, t in zip(_FLAT_COLUMNS, _FLAT_TYPES, strict=True))
    conn.execute(f"CREATE TABLE flat_ads ({typed}{key})")


def run_baseline(pages: list[Path], url: str) -> int:
    conn, mark = _connect(url)
    _create_flat_ads(conn)
    insert = _insert_sql("flat_ads", _FLAT_COLUMNS, mark)
    ads = 0
    for path in pages:
        rows = [_flat_row(ad) for ad in json.loads(path.read_bytes())["data"]]
        conn.cursor().executemany(insert, rows)
        conn.commit()
        ads += len(rows)
    conn.close()
    return ads


#: The child tables of the ``same_rows`` floor: name, columns and key, as adlib's schema has them.
_SAME_ROWS_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "s_regions": (("ad_id", "region", "share"), "ad_id, region"),
    "s_demographics": (("ad_id", "age_range", "gender", "share"), "ad_id, age_range, gender"),
    "s_languages": (("ad_id", "language"), "ad_id, language"),
    "s_platforms": (("ad_id", "platform"), "ad_id, platform"),
    "s_creatives": (("ad_id", "position", "body", "link_caption", "link_title"), "ad_id, position"),
    "s_countries": (("ad_id", "country_code"), "ad_id, country_code"),
    "s_spend": (("ad_id", "currency", "lower", "upper"), "ad_id, currency"),
    "s_observations": (("ad_id", "spend_lower", "impressions_lower"), "ad_id"),
}

_SAME_ROWS_TYPES = {
    "share": "DOUBLE PRECISION",
    "position": "INTEGER",
    "lower": "BIGINT",
    "upper": "BIGINT",
    "spend_lower": "BIGINT",
    "impressions_lower": "BIGINT",
}


def _child_rows(ad: dict[str, Any], ad_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows adlib writes for one ad, read straight from the JSON with no checks at all."""
    spend = ad.get("spend") or {}
    low, high = spend.get("lower_bound"), spend.get("upper_bound")
    low, high = (int(low) if low else None), (int(high) if high else None)
    bodies = ad.get("ad_creative_bodies") or []
    captions = ad.get("ad_creative_link_captions") or []
    titles = ad.get("ad_creative_link_titles") or []
    return {
        "s_regions": [
            (ad_id, r["region"], float(r["percentage"])) for r in ad.get("delivery_by_region", [])
        ],
        "s_demographics": [
            (ad_id, d["age"], d["gender"], float(d["percentage"]))
            for d in ad.get("demographic_distribution", [])
        ],
        "s_languages": [(ad_id, x) for x in ad.get("languages", [])],
        "s_platforms": [(ad_id, x) for x in ad.get("publisher_platforms", [])],
        "s_creatives": [
            (
                ad_id,
                i,
                body,
                captions[i] if i < len(captions) else None,
                titles[i] if i < len(titles) else None,
            )
            for i, body in enumerate(bodies)
        ],
        "s_countries": [(ad_id, "US")],
        "s_spend": [(ad_id, ad.get("currency"), low, high)],
        "s_observations": [(ad_id, low, None)],
    }


def run_same_rows(pages: list[Path], url: str) -> int:
    """The physical floor of adlib's work: the same rows into tables of the same shape.

    ``json.loads``, then every row adlib writes for an ad (the flat ad row plus its regions,
    demographics, languages, platforms, creatives, country, spend and observation) as plain
    ``executemany`` into tables with the same keys and foreign keys, read straight from the JSON
    without a single check, hash, archive or upsert. What adlib adds on top of this is its
    own cost; what this adds over ``baseline`` is the cost of the relational schema itself.
    """
    conn, mark = _connect(url)
    _create_flat_ads(conn, ", PRIMARY KEY (id)")
    for table, (columns, key) in _SAME_ROWS_TABLES.items():
        typed = ", ".join(f"{c} {_SAME_ROWS_TYPES.get(c, 'TEXT')}" for c in columns)
        conn.execute(
            f"CREATE TABLE {table} ({typed}, PRIMARY KEY ({key}), "
            "FOREIGN KEY (ad_id) REFERENCES flat_ads (id) ON DELETE CASCADE)"
        )
    # A region Meta lists twice for one ad would break the key: keep the first, as adlib does.
    inserts = {
        t: _insert_sql(t, cols, mark) + " ON CONFLICT DO NOTHING"
        for t, (cols, _) in _SAME_ROWS_TABLES.items()
    }
    insert_ad = _insert_sql("flat_ads", _FLAT_COLUMNS, mark)
    ads = 0
    for path in pages:
        data = json.loads(path.read_bytes())["data"]
        cursor = conn.cursor()
        cursor.executemany(insert_ad, [_flat_row(ad) for ad in data])
        children: dict[str, list[tuple[Any, ...]]] = {table: [] for table in inserts}
        for ad in data:
            for table, rows in _child_rows(ad, ad["id"]).items():
                children[table].extend(rows)
        for table, rows in children.items():
            if rows:
                cursor.executemany(inserts[table], rows)
        conn.commit()
        ads += len(data)
    conn.close()
    return ads


def run_adlib(pages: list[Path], url: str) -> int:
    from collectors.meta import normalise
    from collectors.records import Page, RawPayload
    from collectors.redact import Redactor
    from pipeline import db
    from pipeline.load import load_page
    from pipeline.runner import open_run

    engine = db.make_engine(url)
    db.ensure_schema(engine)
    run_id = open_run(engine, "meta", "US", datetime.now(UTC))
    redactor = Redactor([TOKEN])
    ads = 0
    for number, path in enumerate(pages):
        body = path.read_bytes()
        normalised = [normalise(raw, "US") for raw in json.loads(body)["data"]]
        page = Page(
            scope="US",
            checkpoint={"after": str(number)},
            ads=normalised,
            raw=RawPayload(
                kind="page", url="https://graph.facebook.com/v23.0/ads_archive", content=body
            ),
        )
        with engine.begin() as conn:
            load_page(
                conn, page, source="meta", run_id=run_id, now=datetime.now(UTC), redactor=redactor
            )
        ads += len(normalised)
    engine.dispose()
    return ads


def child(variant: str, folder: Path, url: str) -> None:
    pages = sorted(folder.glob("page-*.json"))
    started = time.perf_counter()
    ads = {"baseline": run_baseline, "same_rows": run_same_rows, "adlib": run_adlib}[variant](
        pages, url
    )
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ads": ads, "seconds": seconds, "peak_mb": peak_mb}))


def fresh_database(engine_name: str, folder: Path, pg_url: str | None, label: str) -> str:
    if engine_name == "sqlite":
        return f"sqlite:///{folder / f'{label}.sqlite'}"
    import psycopg

    assert pg_url is not None
    name = f"adlib_bench_{label}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = pg_url.rpartition("/")
    return f"{base}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ads", type=int, default=100_000)
    parser.add_argument("--pg", help="PostgreSQL admin URL (default: $ADLIB_TEST_PG_URL)")
    parser.add_argument(
        "--child", nargs=3, metavar=("VARIANT", "FOLDER", "URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.child[2])
        return
    import os

    pg_url = args.pg or os.environ.get("ADLIB_TEST_PG_URL")
    engines = ["sqlite"] + (["postgresql"] if pg_url else [])
    with tempfile.TemporaryDirectory(prefix="adlib-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        pages = generate_pages(folder, args.ads)
        print(
            f"rendered {args.ads:,} replica ads as {pages} pages in {time.perf_counter() - started:.1f}s"
        )
        print(
            f"{'engine':<11} {'variant':<9} {'ads':>8} {'seconds':>8} {'ads/s':>8} {'vs base':>8} {'peak MB':>8}"
        )
        for engine_name in engines:
            results = {}
            for variant in ("baseline", "same_rows", "adlib"):
                url = fresh_database(engine_name, folder, pg_url, f"{engine_name}_{variant}")
                out = subprocess.run(
                    [sys.executable, __file__, "--child", variant, str(folder), url],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
            base_rate = results["baseline"]["ads"] / results["baseline"]["seconds"]
            for variant, r in results.items():
                rate = r["ads"] / r["seconds"]
                print(
                    f"{engine_name:<11} {variant:<9} {r['ads']:>8,} {r['seconds']:>8.1f} {rate:>8,.0f} "
                    f"{rate / base_rate:>8.2f} {r['peak_mb']:>8.0f}"
                )
            adlib = results["adlib"]
            rate = adlib["ads"] / adlib["seconds"]
            floor = results["same_rows"]["ads"] / results["same_rows"]["seconds"]
            print(
                f"same_rows writes {floor / base_rate:.2f} of the baseline's rate: the cost of the"
                f" relational schema alone; adlib runs at {rate / floor:.2f} of same_rows"
            )
            if engine_name == "sqlite":
                print(f"target sqlite >= 5,000 ads/s: {'MET' if rate >= 5000 else 'NOT MET'}")
                share = rate / base_rate
                print(
                    f"target >= 1/3 of the baseline's rate: {'MET' if share >= 1 / 3 else 'NOT MET'}"
                    f" ({share:.2f})"
                )
            print(
                f"target peak < 300 MB ({engine_name}): {'MET' if adlib['peak_mb'] < 300 else 'NOT MET'}"
            )


if __name__ == "__main__":
    main()
