"""`adlib export` on SQLite and PostgreSQL: contents, formats, manifest, determinism, safety.

Expected contents come from tests/fixtures/analyst/ads.yaml (which ads reached which country,
their cards, regions, cells, targeting and observations) or from plain SQL over the base
tables; the replica database checks the issue's acceptance end to end through the CLI.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cells import ARROW_TYPES
from pipeline.db import head_revision
from pipeline.dictionary import KINDS
from pipeline.export import EXPORT_FILES, ExportError, ExportRequest, run_export
from pipeline.query import readonly_engine
from tests.analyst_db import ReplicaDatabase, build_hand_database, invoke, rows
from tests.conftest import run_cli, write_config

KE_ADS = {"m1", "m2", "m5", "CR1", "CR2", "S1"}
#: Rows per file for KE, counted off the YAML file.
KE_ROWS = {
    "ads": 6,
    "advertisers": 4,  # Kenya Forward, New Voices KE, Green Kenya, KE Youth Media
    "funders": 1,  # Friends of Kenya (m1, m2, S1); m5 and the Google ads have none
    "countries": 7,  # m2 reached KE and US, the others KE only
    "creatives": 2,  # m1 and m2 have one card each
    "regions": 3,  # m1: Nairobi, Mombasa; m2: Nairobi
    "demographics": 3,  # m1's three cells
    "targeting": 5,  # m1: 2, CR1: 2, S1: 1
    "spend": 6,  # one range per ad
    "observations": 7,  # one each, plus m2's spend change in run 2
    # actors: Kenya Forward, Friends of Kenya (Meta byline and Snap payer), New Voices KE,
    # Green Kenya, KE Youth Media (the Snap organisation: agency role)
    "actors": 5,
    # Kenya Forward and Friends of Kenya on Meta in KE and US (m2), the other three in KE,
    # Friends of Kenya on Snap in KE
    "actor_mentions": 8,
    "ad_actors": 9,  # m1, m2, S1: two actors each (advertiser/agency and payer); others one
    "actor_names": 8,  # one per mention above
    # per actor, platform and month in KE: Kenya Forward Jan-Mar (m1, m2), Friends of Kenya
    # Jan-Mar on Meta and Feb on Snap, New Voices Mar, Green Kenya Jan and Feb, KE Youth Feb
    "actor_spend": 11,
    "report_spend": 3,  # the two KE lifelong Meta reports (rows by country, not by ad)
    "report_locations": 0,
}


def _export(url: str, out: Path, countries: list[str], **options: Any) -> dict[str, Any]:
    engine = readonly_engine(url)
    try:
        run_export(engine, ExportRequest(countries=countries, out=out, **options))
    finally:
        engine.dispose()
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _verify(out: Path, manifest: dict[str, Any]) -> None:
    """Every listed file exists, hashes to its sha256 and has the rows the manifest says."""
    listed = {f["name"] for f in manifest["files"]}
    assert listed | {"manifest.json"} == {p.name for p in out.iterdir()}
    for entry in manifest["files"]:
        data = (out / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["name"]
        assert len(data) == entry["bytes"]
        if entry["name"].endswith(".csv"):
            assert len(_csv(out / entry["name"])) == entry["rows"], entry["name"]
        elif entry["name"].endswith(".parquet"):
            assert pq.read_table(out / entry["name"]).num_rows == entry["rows"], entry["name"]


def test_csv_export_holds_exactly_the_country_s_rows(hand_db: str, tmp_path: Path) -> None:
    manifest = _export(hand_db, tmp_path / "ke", ["KE"])
    _verify(tmp_path / "ke", manifest)
    counts = {f["name"].removesuffix(".csv"): f["rows"] for f in manifest["files"] if f["table"]}
    assert counts == KE_ROWS
    ads = _csv(tmp_path / "ke" / "ads.csv")
    by_id = rows(
        hand_db,
        "SELECT a.source_ad_id FROM ads a JOIN ad_countries c ON c.ad_id = a.id"
        " WHERE c.country_code = 'KE' ORDER BY a.id",
    )
    assert [a["source_ad_id"] for a in ads] == [r[0] for r in by_id]
    assert {r[0] for r in by_id} == KE_ADS
    m2 = next(a for a in ads if a["source_ad_id"] == "m2")
    assert (m2["delivery_start"], m2["delivery_stop"], m2["spend_lower"], m2["extra"]) == (
        "2026-02-15T00:00:00Z",
        "",
        "200",
        "",
    )
    targeting = _csv(tmp_path / "ke" / "targeting.csv")
    assert sorted((t["value"], t["included"]) for t in targeting) == [
        ("18-24", "true"),
        ("18-65", "true"),
        ("25-34", "true"),
        ("female", "true"),
        ("women", "true"),
    ]
    assert manifest["filters"] == {"countries": ["KE"], "since": None, "until": None, "sources": []}
    assert manifest["schema_version"] == manifest["schema_head"] == head_revision()
    assert manifest["sources"]["meta"]["ads"] == 3
    assert manifest["sources"]["meta"]["last_successful_run"]["finished_at"] == (
        "2026-03-08T02:00:00Z"
    )
    assert manifest["sources"]["snap"]["collection_window"] == {
        "first_seen_at": "2026-03-01T02:00:00Z",
        "last_seen_at": "2026-03-01T02:00:00Z",
    }


def test_text_cells_are_made_formula_safe_and_parquet_keeps_them(
    hand_db: str, tmp_path: Path
) -> None:
    _export(hand_db, tmp_path / "csv", ["US"])
    m3 = str(rows(hand_db, "SELECT id FROM ads WHERE source_ad_id = 'm3'")[0][0])
    cards = [
        (c["body"], c["link_title"], c["link_description"], c["link_caption"])
        for c in _csv(tmp_path / "csv" / "creatives.csv")
        if c["ad_id"] == m3
    ]
    assert cards == [
        ("Better transit for all: vote YES on Measure T", "''Transit' matters", "'-50% fares",
         "www.transit-now.org"),
        ("'=HYPERLINK(\"http://example.invalid\",\"click\")", "", "", ""),
    ]  # fmt: skip
    raw = (tmp_path / "csv" / "creatives.csv").read_bytes()
    assert b"\r\n" in raw and b'"\'=HYPERLINK(""http://example.invalid"",""click"")"' in raw
    _export(hand_db, tmp_path / "pq", ["US"], fmt="parquet")
    table = pq.read_table(tmp_path / "pq" / "creatives.parquet").to_pylist()
    assert {r["body"] for r in table} >= {'=HYPERLINK("http://example.invalid","click")'}
    assert {r["link_description"] for r in table} >= {"-50% fares"}


def test_parquet_has_real_types(hand_db: str, tmp_path: Path) -> None:
    manifest = _export(hand_db, tmp_path / "ke", ["KE"], fmt="parquet")
    _verify(tmp_path / "ke", manifest)
    ads = pq.read_table(tmp_path / "ke" / "ads.parquet")
    assert ads.schema.field("spend_lower").type == pa.int64()
    assert ads.schema.field("spend_upper").type == pa.int64()
    assert ads.schema.field("delivery_start").type == pa.timestamp("us", tz="UTC")
    assert ads.schema.field("source_ad_id").type == pa.string()
    m2 = next(r for r in ads.to_pylist() if r["source_ad_id"] == "m2")
    assert m2["delivery_start"].isoformat() == "2026-02-15T00:00:00+00:00"
    assert (m2["spend_lower"], m2["spend_upper"], m2["delivery_stop"]) == (200, 299, None)
    targeting = pq.read_table(tmp_path / "ke" / "targeting.parquet")
    assert targeting.schema.field("included").type == pa.bool_()
    regions = pq.read_table(tmp_path / "ke" / "regions.parquet")
    assert regions.schema.field("share").type == pa.float64()
    assert sorted(regions.column("share").to_pylist()) == [0.4, 0.6, 1.0]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"since": date(2026, 2, 20)}, {"m2", "m5", "CR1"}),  # still delivering on 02-20
        ({"until": date(2026, 2, 1)}, {"m1", "CR1", "CR2"}),  # started by 02-01
        ({"sources": ["meta"]}, {"m1", "m2", "m5"}),
        ({"sources": ["snap", "google"], "until": date(2026, 1, 31)}, {"CR2"}),
    ],
)
def test_filters(hand_db: str, tmp_path: Path, options: dict[str, Any], expected: set[str]) -> None:
    _export(hand_db, tmp_path / "out", ["KE"], **options)
    assert {a["source_ad_id"] for a in _csv(tmp_path / "out" / "ads.csv")} == expected


def test_several_countries(hand_db: str, tmp_path: Path) -> None:
    _export(hand_db, tmp_path / "out", ["KE", "FR"])
    assert {a["source_ad_id"] for a in _csv(tmp_path / "out" / "ads.csv")} == KE_ADS | {"m4"}


def test_two_exports_are_byte_identical_and_batches_do_not_matter(
    hand_db: str, tmp_path: Path
) -> None:
    first = _export(hand_db, tmp_path / "a", ["KE", "US"], zip=True)
    second = _export(hand_db, tmp_path / "b", ["KE", "US"], batch_rows=2)
    for entry in first["files"]:
        assert (tmp_path / "a" / entry["name"]).read_bytes() == (
            tmp_path / "b" / entry["name"]
        ).read_bytes(), entry["name"]
    strip = ("generated_at",)
    assert {k: v for k, v in first.items() if k not in strip} == {
        k: v for k, v in second.items() if k not in strip
    }
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        names = archive.namelist()
        assert sorted(names) == sorted(f"a/{p.name}" for p in (tmp_path / "a").iterdir())
        assert archive.read("a/ads.csv") == (tmp_path / "a" / "ads.csv").read_bytes()
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_parquet_row_groups_follow_the_setting(hand_db: str, tmp_path: Path) -> None:
    _export(hand_db, tmp_path / "out", ["KE"], fmt="parquet", batch_rows=1, row_group_rows=2)
    observations = pq.ParquetFile(tmp_path / "out" / "observations.parquet")
    assert observations.metadata.num_row_groups == 4  # 7 rows, 2 per group
    assert observations.read().num_rows == 7


def test_csv_is_the_same_from_sqlite_and_postgresql(tmp_path: Path, pg_database: str) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'hand.sqlite'}"
    for url in (sqlite_url, pg_database):
        build_hand_database(url)
    a = _export(sqlite_url, tmp_path / "sqlite", ["KE", "US", "FR"])
    b = _export(pg_database, tmp_path / "postgresql", ["KE", "US", "FR"])
    assert [(f["name"], f["sha256"]) for f in a["files"]] == [
        (f["name"], f["sha256"]) for f in b["files"]
    ]


def test_refuses_a_directory_that_is_not_empty(hand_db: str, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an empty directory"):
        _export(hand_db, tmp_path / "out", ["KE"])
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


def test_every_export_file_is_in_the_dictionary(hand_db: str, tmp_path: Path) -> None:
    assert set(ARROW_TYPES) == set(KINDS)
    _export(hand_db, tmp_path / "out", ["KE"])
    dictionary = (tmp_path / "out" / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    for spec in EXPORT_FILES:
        assert f"### {spec.name}.csv" in dictionary
        for column in spec.table.columns:
            assert f"| `{column.name}` |" in dictionary
    assert "remove the first character of every text cell that starts with '" in dictionary


def _cli_export(url: str, tmp_path: Path, out: Path, *args: str) -> dict[str, Any]:
    config = write_config(tmp_path / "config.yaml", {"database": {"url": url}})
    done = run_cli("export", "--config", str(config), "--country", "KE", "--out", str(out), *args)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_acceptance_on_the_replica_database(replica_db: ReplicaDatabase, tmp_path: Path) -> None:
    """`adlib export --country KE` as parquet and as CSV on the replica-collected database."""
    ke_ads = set(replica_db.meta.ads_for("KE"))  # the other replicas have no Kenyan ads
    parquet = _cli_export(replica_db.url, tmp_path, tmp_path / "pq", "--format", "parquet")
    _verify(tmp_path / "pq", parquet)
    found = pq.read_table(tmp_path / "pq" / "ads.parquet").column("source_ad_id").to_pylist()
    assert set(found) == ke_ads and len(found) == len(ke_ads)
    first = _cli_export(replica_db.url, tmp_path, tmp_path / "csv1", "--format", "csv")
    _cli_export(replica_db.url, tmp_path, tmp_path / "csv2")
    _verify(tmp_path / "csv1", first)
    assert {a["source_ad_id"] for a in _csv(tmp_path / "csv1" / "ads.csv")} == ke_ads
    for entry in first["files"]:
        assert (tmp_path / "csv1" / entry["name"]).read_bytes() == (
            tmp_path / "csv2" / entry["name"]
        ).read_bytes()
    counts = {f["table"]: f["rows"] for f in parquet["files"] if f["table"]}
    assert counts == {f["table"]: f["rows"] for f in first["files"] if f["table"]}
    expected_regions = rows(
        replica_db.url,
        "SELECT COUNT(*) FROM ad_regions WHERE ad_id IN"
        " (SELECT ad_id FROM ad_countries WHERE country_code = 'KE')",
    )[0][0]
    assert counts["ad_regions"] == expected_regions > 0


def test_adlib_export_refuses_bad_arguments_with_exit_2(hand_db: str, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    for args, message in [
        (("--country", "Kenya", "--out", str(tmp_path / "o")), "alpha-2"),
        (("--country", "KE", "--out", str(tmp_path / "o"), "--since", "May"), "--since"),
        (("--country", "KE", "--out", str(tmp_path / "full")), "not an empty directory"),
    ]:
        code, _, err = invoke(hand_db, tmp_path, "export", *args)
        assert code == 2 and message in err, err


def test_report_rows_follow_the_country_days_and_source(hand_db: str, tmp_path: Path) -> None:
    def report_rows(name: str, countries: list[str], **options: Any) -> list[dict[str, str]]:
        _export(hand_db, tmp_path / name, countries, **options)
        return _csv(tmp_path / name / "report_spend.csv")

    since = report_rows("since", ["KE"], since=date(2026, 3, 2), until=date(2026, 3, 8))
    assert [(r["report_date"], r["page_id"]) for r in since] == [
        ("2026-03-08", "1001"),
        ("2026-03-08", "5005"),
    ]
    assert report_rows("us", ["US"]) == []
    assert report_rows("google", ["KE"], sources=["google"]) == []
    assert len(report_rows("meta", ["KE"], sources=["meta"])) == 3
