"""Full-text search on SQLite (FTS5) and PostgreSQL (tsvector): syntax, matches, filters,
order, the index following the loader, and `adlib search` itself.

Expected ads are read off tests/fixtures/analyst/ads.yaml: which ad says what, who its
advertiser and funder are, and when it started delivering (results are newest first).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from collectors.records import AdvertiserRecord, CreativeRecord, Page
from collectors.redact import Redactor
from pipeline import db
from pipeline.load import load_page
from pipeline.query import readonly_engine
from pipeline.search import SearchFilters, SearchSyntaxError, Term, parse_query, search
from tests.analyst_db import _open_run, hand_ad, hand_data, invoke
from tests.conftest import run_cli, write_config


def _ids(url: str, query: str, **filters: object) -> list[str]:
    engine = readonly_engine(url)
    try:
        with engine.connect() as conn:
            columns, found, total = search(conn, query, SearchFilters(**filters))  # type: ignore[arg-type]
    finally:
        engine.dispose()
    assert total == len(found)
    return [row[columns.index("source_ad_id")] for row in found]


def test_query_syntax() -> None:
    clauses = parse_query('Climate "clean  energy" tax* -coal OR covid-19')
    assert [c.terms for c in clauses] == [
        [
            Term(("climate",)),
            Term(("clean", "energy")),
            Term(("tax",), prefix=True),
            Term(("coal",), negated=True),
        ],
        [Term(("covid", "19"))],
    ]
    for nothing in ("", "   ", "--- ***", "OR"):
        with pytest.raises(SearchSyntaxError, match="nothing to search for"):
            parse_query(nothing)
    with pytest.raises(SearchSyntaxError, match="only -exclusions"):
        parse_query("-coal -oil")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("schools", ["m1"]),
        # advertiser "Kenya Forward" (m1, m2), "Green Kenya" (CR1, CR2), funder "Friends of
        # Kenya" (m1, m2, S1); newest delivery first.
        ("kenya", ["m2", "S1", "CR1", "m1", "CR2"]),
        ("KENYA", ["m2", "S1", "CR1", "m1", "CR2"]),
        ("friends schools", ["m1"]),  # funder name AND creative text
        ('"better schools"', ["m1"]),
        ('"schools better"', []),
        ("sch*", ["m1"]),
        ("kenya -schools", ["m2", "S1", "CR1", "CR2"]),
        ("measure OR healthcare", ["m2", "m3"]),
        ("hyperlink", ["m3"]),  # the second card of m3
        ("transit-now", ["m3"]),  # link caption www.transit-now.org, funder Transit Now PAC
        ("école", ["m4"]),
        ("ÉCOLE", ["m4"]),
        ("ecole", []),  # accents are kept on both engines
        ("france", ["m4"]),  # Île-de-France splits on the hyphens
        ("nairobi OR mombasa", ["m1"]),  # region names are not searched, the body is
        ("zanzibar", []),
    ],
)
def test_search_finds_the_ads_that_say_it(hand_db: str, query: str, expected: list[str]) -> None:
    assert _ids(hand_db, query) == expected


def test_filters_country_source_and_since(hand_db: str) -> None:
    assert _ids(hand_db, "kenya", countries=["US"]) == ["m2"]
    assert _ids(hand_db, "kenya", countries=["US", "KE"]) == ["m2", "S1", "CR1", "m1", "CR2"]
    assert _ids(hand_db, "kenya", sources=["snap", "google"]) == ["S1", "CR1", "CR2"]
    # Still delivering on 2026-02-20: m2 runs; CR1 stops 02-28; S1 stopped 02-19.
    assert _ids(hand_db, "kenya", since=date(2026, 2, 20)) == ["m2", "CR1"]


def test_limit_keeps_the_total(hand_db: str) -> None:
    engine = readonly_engine(hand_db)
    with engine.connect() as conn:
        columns, found, total = search(conn, "kenya", SearchFilters(), limit=2)
    engine.dispose()
    assert (len(found), total) == (2, 5)
    assert [r[columns.index("source_ad_id")] for r in found] == ["m2", "S1"]


def _load(url: str, source: str, page: Page, at: datetime) -> None:
    engine = db.make_engine(url)
    db.ensure_schema(engine)
    run_id = _open_run(engine, source, page.scope, at)
    with engine.begin() as conn:
        load_page(conn, page, source=source, run_id=run_id, now=at, redactor=Redactor())
    engine.dispose()


def test_the_index_follows_the_loader(database_url: str) -> None:
    data = hand_data()["ads"]
    m1 = hand_ad("m1", data["m1"])
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    _load(database_url, "meta", Page("KE", {}, ads=[m1, hand_ad("m2", data["m2"])]), t0)
    assert _ids(database_url, "schools") == ["m1"]
    changed = replace(m1, creatives=[CreativeRecord(0, body="Clean water for Kisumu")])
    _load(database_url, "meta", Page("KE", {}, ads=[changed]), t0.replace(day=2))
    assert _ids(database_url, "schools") == []
    assert _ids(database_url, "water kisumu") == ["m1"]
    # A bulk advertiser file renames the page without touching its ads.
    renamed = Page("KE", {}, advertisers=[AdvertiserRecord("1001", "Kenya Ahead")])
    _load(database_url, "meta", renamed, t0.replace(day=3))
    assert _ids(database_url, "ahead") == ["m2", "m1"]
    assert _ids(database_url, "forward") == []


def _cli(url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return invoke(url, tmp_path, "search", *args)


def test_adlib_search_prints_matching_ads(hand_db: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", {"database": {"url": hand_db}})
    done = run_cli(
        "search", "--config", str(config), "kenya", "--country", "ke", "--source", "meta"
    )
    code, out, err = done.returncode, done.stdout, done.stderr
    assert code == 0, err
    assert "m2" in out and "m1" in out and "CR1" not in out
    assert "2 matching ads" in out
    code, out, err = _cli(hand_db, tmp_path, "kenya", "--since", "2026-02-20", "--json")
    assert code == 0, err
    found: Sequence[dict[str, object]] = json.loads(out)
    assert [(a["source_ad_id"], a["countries"]) for a in found] == [("m2", "KE,US"), ("CR1", "KE")]


def test_adlib_search_refuses_bad_input_with_exit_2(hand_db: str, tmp_path: Path) -> None:
    code, _, err = _cli(hand_db, tmp_path, "--", "-coal -oil")
    assert code == 2 and "only -exclusions" in err
    code, _, err = _cli(hand_db, tmp_path, "kenya", "--since", "last week")
    assert code == 2 and "--since" in err
    code, _, err = _cli(hand_db, tmp_path, "kenya", "--country", "Kenya")
    assert code == 2 and "alpha-2" in err
