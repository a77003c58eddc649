"""`adlib report` on the practices fixture: files, numbers, escaping, bad input."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from pipeline import db
from tests.analyst_db import build_hand_database, invoke, normalised, rows
from tests.conftest import run_cli, write_config

PLANTED = "<img src=x onerror=alert("


@pytest.fixture(scope="module")
def report_dir(practices_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    code, out, err = invoke(practices_db, tmp, "report", "--country", "ke", "--out", str(tmp / "r"))
    assert (code, err) == (0, "")
    assert out.strip().endswith(str(tmp / "r" / "index.html"))
    return tmp / "r"


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_manifest_lists_every_file_with_its_digest(report_dir: Path) -> None:
    manifest = json.loads((report_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["filters"] == {"country": "KE", "since": None, "until": None, "sources": []}
    assert manifest["ads"] == 9
    listed = {f["name"]: f for f in manifest["files"]}
    on_disk = {
        p.relative_to(report_dir).as_posix()
        for p in report_dir.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert set(listed) == on_disk and "index.html" in on_disk
    for name, entry in listed.items():
        assert hashlib.sha256((report_dir / name).read_bytes()).hexdigest() == entry["sha256"]


def test_csv_numbers_are_the_views_numbers(report_dir: Path, practices_db: str) -> None:
    tests = _csv(report_dir / "data" / "message_tests.csv")
    expected = rows(
        practices_db,
        "SELECT cluster_id, variants, spend_lower, spend_upper FROM v_message_tests "
        "WHERE country_code = 'KE' ORDER BY variants DESC, cluster_id",
    )
    assert [
        (int(r["cluster_id"]), int(r["variants"]), int(r["spend_lower"]), r["spend_upper"])
        for r in tests
    ] == [(c, v, lo, "" if up is None else str(up)) for c, v, lo, up in expected]
    actors = _csv(report_dir / "data" / "top_actors.csv")
    # Per actor, platform and currency: the party's Snap ad (paid for by "Green Future")
    # resolves to the same actor as its Meta page, and its agency comes with it.
    assert [(a["actor_name"], a["source"], a["ads"], a["spend_lower"]) for a in actors] == [
        ("Green Future Party", "meta", "7", "720"),
        ("<img src=x onerror=alert(2)>Blue Alliance", "meta", "1", "1000"),
        ("Green Future Party", "snap", "1", "500"),
    ]
    assert {a["agencies"] for a in actors if a["actor_id"] == "1"} == {"Media Buyers Ltd"}


def test_ranges_and_currencies_stay_apart(report_dir: Path) -> None:
    spend = _csv(report_dir / "data" / "spend_monthly.csv")
    assert {(r["source"], r["currency"]) for r in spend} == {("meta", "KES"), ("snap", "USD")}
    march = next(r for r in spend if r["source"] == "meta" and r["month"] == "2026-03")
    assert (float(march["spend_lower"]), march["spend_upper"]) == (1310.0, "")  # g3 is open


def test_markup_from_the_data_is_escaped(report_dir: Path) -> None:
    page = (report_dir / "index.html").read_text(encoding="utf-8")
    assert PLANTED not in page
    assert "&lt;img src=x onerror=alert(1)&gt; Clean water" in page  # the body, as text
    assert "&lt;img src=x onerror=alert(2)&gt;Blue Alliance" in page  # the page name
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for section in ("coverage", "spend", "actors", "targeting", "tests", "delivery", "changes"):
        assert f'id="{section}"' in page
    assert page.count('class="chart"') == 6  # 2 currencies, concentration, targeting, 2 delivery


def test_csv_cells_cannot_start_a_formula(practices_db: str, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(practices_db.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("UPDATE advertisers SET name = '=HYPERLINK(1)' WHERE source = 'snap'"))
    try:
        code, _, _ = invoke(
            practices_db, tmp_path, "report", "--country", "KE", "--out", str(tmp_path / "r")
        )
        advertisers = _csv(tmp_path / "r" / "data" / "top_advertisers.csv")
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE advertisers SET name = 'Media Buyers Ltd' WHERE source = 'snap'")
            )
        engine.dispose()
    assert code == 0
    assert "'=HYPERLINK(1)" in {a["advertiser_name"] for a in advertisers}


def test_without_actors_the_report_lists_advertisers(database_url: str, tmp_path: Path) -> None:
    # A database whose actors were never resolved (collected before the actors layer).
    build_hand_database(database_url)
    engine = db.make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ad_actor_mentions"))
        conn.execute(text("DELETE FROM actor_mentions"))
        conn.execute(text("DELETE FROM actors"))
    engine.dispose()
    code, _, err = invoke(
        database_url, tmp_path, "report", "--country", "KE", "--out", str(tmp_path / "r")
    )
    assert (code, err) == (0, "")
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "Top advertisers" in page and "No actors are resolved" in page
    assert _csv(tmp_path / "r" / "data" / "top_actors.csv") == []


def test_dates_narrow_the_selection(practices_db: str, tmp_path: Path) -> None:
    out = tmp_path / "r"
    code, _, _ = invoke(
        practices_db,
        tmp_path,
        "report",
        "--country",
        "KE",
        "--since",
        "2026-04-01",
        "--out",
        str(out),
    )
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["ads"] == 3  # g4, g6, g7
    assert normalised(
        [(r["month"], float(r["spend_lower"])) for r in _csv(out / "data" / "spend_monthly.csv")]
    ) == [("2026-04", 100.0), ("2026-05", 10.0)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--country", "XX"], "'XX' is not an ISO 3166-1 alpha-2 country code"),
        (["--country", "FR"], "no ads reached FR"),
        (["--country", "KE", "--since", "2026-05-01", "--until", "2026-04-01"], "range is empty"),
        (["--country", "KE", "--since", "May"], "is not a date"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    practices_db: str, tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = invoke(practices_db, tmp_path, "report", *args, "--out", str(tmp_path / "r"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_out_is_never_overwritten_without_force(practices_db: str, tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = invoke(practices_db, tmp_path, "report", "--country", "KE", "--out", str(out))
    assert code == 2 and "add --force" in err
    code, _, err = invoke(
        practices_db, tmp_path, "report", "--country", "KE", "--out", str(out), "--force"
    )
    assert code == 2 and "not an adlib report" in err  # --force replaces reports only
    assert (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    assert invoke(practices_db, tmp_path, "report", "--country", "KE", "--out", str(out))[0] == 0
    first = (out / "manifest.json").read_text()
    assert invoke(practices_db, tmp_path, "report", "--country", "KE", "--out", str(out))[0] == 2
    assert (out / "manifest.json").read_text() == first
    assert (
        invoke(practices_db, tmp_path, "report", "--country", "KE", "--out", str(out), "--force")[0]
        == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "r"]  # no staging left


def test_unwritable_out_is_exit_2(practices_db: str, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "file").write_text("x")
    code, _, err = invoke(
        practices_db, tmp_path, "report", "--country", "KE", "--out", str(locked / "file" / "r")
    )
    assert code == 2 and "cannot write --out" in err and len(err.strip().splitlines()) == 1


def test_cli_subprocess(practices_db: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", {"database": {"url": practices_db}})
    done = run_cli(
        "report", "--config", str(config), "--country", "KE", "--out", str(tmp_path / "r")
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "index.html").is_file()


def test_concentration_matches_the_view(report_dir: Path, practices_db: str) -> None:
    view = rows(
        practices_db,
        "SELECT source, month, currency, spenders, spend_lower, spend_upper, top10_share_lower, "
        "top10_share_upper FROM v_spend_concentration WHERE unit = 'advertiser' "
        "AND country_code = 'KE' ORDER BY source, currency, month",
    )
    found = [
        (
            r["source"],
            r["month"],
            r["currency"],
            int(r["spenders"]),
            float(r["spend_lower"]),
            float(r["spend_upper"]) if r["spend_upper"] else None,
            float(r["top10_share_lower"]) if r["top10_share_lower"] else None,
            float(r["top10_share_upper"]) if r["top10_share_upper"] else None,
        )
        for r in _csv(report_dir / "data" / "concentration.csv")
    ]
    assert normalised(found) == normalised(
        [(*r[:4], *(None if v is None else float(v) for v in r[4:])) for r in view]
    )


def test_advertiser_spend_monthly_is_the_views_rows(report_dir: Path, practices_db: str) -> None:
    """The report spreads spend over months in Python (the view is too slow on a large
    country): the rows must be the view's, for the report's country, every advertiser and
    month, ads with no upper bound keeping the sum open."""
    view = rows(
        practices_db,
        "SELECT source, advertiser_id, advertiser_name, month, currency, ads, spend_lower, "
        "spend_upper FROM v_advertiser_spend_monthly WHERE country_code = 'KE' "
        "AND currency IS NOT NULL",
    )
    found = [
        (
            r["source"],
            int(r["advertiser_id"]) if r["advertiser_id"] else None,
            r["advertiser_name"],
            r["month"],
            r["currency"],
            int(r["ads"]),
            float(r["spend_lower"]),
            float(r["spend_upper"]) if r["spend_upper"] else None,
        )
        for r in _csv(report_dir / "data" / "advertiser_spend_monthly.csv")
    ]
    assert len(found) > 3 and any(r[-1] is None for r in found)
    as_view = [(*r[:6], float(r[6]), None if r[7] is None else float(r[7])) for r in view]
    assert sorted(normalised(found), key=repr) == sorted(normalised(as_view), key=repr)


def test_months_split_delivery_days_across_month_and_year_ends() -> None:
    from datetime import date

    from pipeline.evidence.report.monthly import _months

    assert list(_months(date(2023, 12, 30), date(2024, 3, 1))) == [
        (date(2023, 12, 1), 2),
        (date(2024, 1, 1), 31),
        (date(2024, 2, 1), 29),
        (date(2024, 3, 1), 1),
    ]
    assert list(_months(date(2024, 5, 7), date(2024, 5, 7))) == [(date(2024, 5, 1), 1)]


def test_page_shows_times_to_the_minute_and_small_numbers_plainly(report_dir: Path) -> None:
    import re
    from datetime import UTC, datetime

    from pipeline.evidence.report.build import _display
    from pipeline.evidence.report.charts import _calendar

    page = (report_dir / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", page)  # the CSV files keep them
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", page)
    assert [_display(v) for v in (0.0, 0.45678, 0.00042, 1234.6, None)] == [
        "0",
        "0.457",
        "0.00042",
        "1,235",
        "—",
    ]
    assert _display("2026-11-30 23:30:30.471227") == "2026-11-30 23:30 UTC"
    assert _display(datetime(2026, 11, 30, 23, 30, 30, 5, tzinfo=UTC)) == "2026-11-30 23:30 UTC"
    # Months without data keep their place on a chart's axis.
    assert _calendar(["2025-02", "2024-11", "2024-11"]) == [
        "2024-11",
        "2024-12",
        "2025-01",
        "2025-02",
    ]
