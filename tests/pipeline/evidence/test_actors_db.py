"""The actors layer on a real database (SQLite and PostgreSQL), fed by the real loader."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from collectors.records import AdvertiserRecord, BeneficiaryPayer, NormalisedAd, Page, SpendRange
from collectors.redact import Redactor
from pipeline.actors_step import mention_fields, resolve_actors
from pipeline.cli import cli
from pipeline.config import parse_config
from pipeline.evidence import actors
from pipeline.evidence.actors.registry import Registry, load_registry
from pipeline.load import load_page
from pipeline.runner import open_run, run_collection
from tests.analyst_db import ReplicaDatabase, rows
from tests.conftest import run_cli, write_config

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _ad(source: str, ad_id: str, country: str, **fields: Any) -> NormalisedAd:
    return NormalisedAd(
        source=source,
        source_ad_id=ad_id,
        currency="USD",
        spend_lower=100,
        spend_upper=199,
        delivery_start=datetime(2026, 2, 1, tzinfo=UTC),
        delivery_stop=datetime(2026, 2, 10, tzinfo=UTC),
        countries=[country],
        spends=[SpendRange("USD", 100, 199)],
        **fields,
    )


#: One organisation on three platforms (page, byline, Google account with an EIN, Snap payer),
#: its "Action" arm (a different actor), and an agency on Snap working for both.
ADS = {
    "meta": [
        _ad("meta", "m1", "US", advertiser=AdvertiserRecord("101", "Climate Power"),
            funder="Paid for by Climate Power Inc."),
        _ad("meta", "m2", "GB", advertiser=AdvertiserRecord("101", "Climate Power"),
            funder="Climate Power",
            beneficiary_payers=[BeneficiaryPayer(0, "Climate Power", "Bully Pulpit Interactive LLC")]),
        _ad("meta", "m3", "US", advertiser=AdvertiserRecord("202", "Climate Power Action"),
            funder="Climate Power Action"),
    ],
    "google": [
        _ad("google", "CR1", "US",
            advertiser=AdvertiserRecord("AR1", "CLIMATE POWER", public_ids=["EIN ID 84-2312345"])),
    ],
    "snap": [
        _ad("snap", "s1", "US", advertiser=AdvertiserRecord("Bully Pulpit Interactive", "Bully Pulpit Interactive"),
            funder="Climate Power", extra={"committee_name": "CP Committee",
                                           "committee_identification_number": "C00871234"}),
        _ad("snap", "s2", "US", advertiser=AdvertiserRecord("Bully Pulpit Interactive", "Bully Pulpit Interactive"),
            funder="Climate Power Action"),
    ],
}  # fmt: skip


def _load(engine: Engine, ads: dict[str, list[NormalisedAd]]) -> None:
    for source, items in ads.items():
        run_id = open_run(engine, source, "test", NOW, status="success", finished_at=NOW)
        with engine.begin() as conn:
            load_page(conn, Page("test", {}, ads=items), source=source, run_id=run_id, now=NOW,
                      redactor=Redactor())  # fmt: skip


def _resolve(engine: Engine, registry: Registry | None = None) -> actors.Summary:
    with engine.begin() as conn:
        return actors.run(conn, mention_fields(), registry or Registry(), NOW)


@pytest.fixture
def resolved(engine: Engine) -> Engine:
    """The test engine with ``ADS`` loaded and resolved once."""
    _load(engine, ADS)
    _resolve(engine)
    return engine


def _rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _actor_of(engine: Engine) -> dict[tuple[str, str, str], int]:
    return {
        (s, r, n): a
        for s, r, n, a in _rows(engine, "SELECT source, role, name, actor_id FROM actor_mentions")
    }


def test_mentions_roles_and_cross_platform_actors(engine: Engine) -> None:
    _load(engine, ADS)
    summary = _resolve(engine)
    assert summary.extracted.new == summary.extracted.mentions > 0
    of = _actor_of(engine)
    climate = of[("meta", "advertiser", "Climate Power")]
    assert {
        of[("meta", "payer", "Paid for by Climate Power Inc.")],
        of[("google", "advertiser", "CLIMATE POWER")],
        of[("snap", "payer", "Climate Power")],
        of[("meta", "beneficiary", "Climate Power")],
    } == {climate}
    assert of[("meta", "advertiser", "Climate Power Action")] != climate
    agency = of[("snap", "agency", "Bully Pulpit Interactive")]
    assert of[("meta", "payer", "Bully Pulpit Interactive LLC")] == agency  # the EU payer line
    # identifiers kept with the mention; the committee id is the Snap mention's account id
    ids = dict(_rows(engine, "SELECT name, identifiers FROM actor_mentions WHERE source <> 'meta'"))
    ids = {k: json.loads(v) if isinstance(v, str) else v for k, v in ids.items()}
    assert ids["CLIMATE POWER"] == ["EIN:842312345", "GOOGLE:AR1"]
    assert ids["CP Committee"] == ["FEC:C00871234", "SNAP:C00871234"]
    # v_actor_names: one row per distinct mention; Climate Power is on three platforms
    platforms = _rows(
        engine,
        "SELECT COUNT(DISTINCT source), COUNT(DISTINCT country_code) FROM v_actor_names"
        " WHERE actor_id = :a",
        a=climate,
    )
    assert platforms == [(3, 2)]


def test_one_principal_per_ad_and_the_snap_payer_line_wins(resolved: Engine) -> None:
    engine = resolved
    principals = _rows(
        engine,
        "SELECT a.source_ad_id, v.role, v.actor_name FROM v_ad_actors v"
        " JOIN ads a ON a.id = v.ad_id WHERE v.principal = 1 ORDER BY a.source_ad_id",
    )
    assert principals == [
        ("CR1", "advertiser", "Climate Power"),
        ("m1", "advertiser", "Climate Power"),
        ("m2", "advertiser", "Climate Power"),
        ("m3", "advertiser", "Climate Power Action"),
        # PayingAdvertiserName ("Climate Power") over CommitteeName ("CP Committee")
        ("s1", "payer", "Climate Power"),
        ("s2", "payer", "Climate Power Action"),
    ]
    roles = _rows(
        engine,
        "SELECT v.role, v.actor_name, v.principal FROM v_ad_actors v JOIN ads a ON a.id = v.ad_id"
        " WHERE a.source_ad_id = 's1' ORDER BY v.role, v.actor_name",
    )
    assert roles == [
        ("agency", "Bully Pulpit Interactive", 0),
        ("payer", "CP Committee", 0),
        ("payer", "Climate Power", 1),
    ]


def test_actor_spend_sums_each_ad_once_per_actor(resolved: Engine) -> None:
    spend = _rows(
        resolved,
        "SELECT s.source, s.country_code, s.month, s.currency, s.spend_lower, s.spend_upper, s.ads"
        " FROM v_actor_spend s JOIN actors a ON a.id = s.actor_id"
        " WHERE a.name = 'Climate Power' ORDER BY s.source, s.country_code",
    )
    # m1 and m2 carry Climate Power as page, byline and beneficiary: still one ad each
    assert [(r[0], r[1], r[2], r[3], float(r[4]), float(r[5]), r[6]) for r in spend] == [
        ("google", "US", "2026-02", "USD", 100.0, 199.0, 1),
        ("meta", "GB", "2026-02", "USD", 100.0, 199.0, 1),
        ("meta", "US", "2026-02", "USD", 100.0, 199.0, 1),
        ("snap", "US", "2026-02", "USD", 100.0, 199.0, 1),
    ]


def test_ids_are_stable_and_curated_decisions_win(resolved: Engine, tmp_path: Path) -> None:
    engine = resolved
    before = _actor_of(engine)
    again = _resolve(engine)
    assert again.written.changed_mentions == 0 and again.written.new_actors == 0
    assert _actor_of(engine) == before
    # new data: another spelling joins the existing actor, nothing is renumbered
    _load(
        engine,
        {
            "meta": [
                _ad("meta", "m4", "US", advertiser=AdvertiserRecord("303", "CLIMATE POWER, INC"))
            ]
        },
    )
    _resolve(engine)
    after = _actor_of(engine)
    assert (
        after[("meta", "advertiser", "CLIMATE POWER, INC")]
        == before[("meta", "advertiser", "Climate Power")]
    )
    assert {k: after[k] for k in before} == before
    # a curated split: the Snap payer line is declared a different actor; only it moves
    path = tmp_path / "actors.yaml"
    path.write_text(
        'never_same:\n  - ["Climate Power", "Bully Pulpit Interactive"]\n'
        'same:\n  - ["CP Committee", "Climate Power Action"]\n'
        "actors:\n  - name: Bully Pulpit Interactive\n    kind: agency\n",
        encoding="utf-8",
    )
    summary = _resolve(engine, load_registry(path))
    curated = _actor_of(engine)
    action = before[("meta", "advertiser", "Climate Power Action")]
    assert curated[("snap", "payer", "CP Committee")] == action
    assert summary.written.merged == 1  # CP Committee's own actor now points at the survivor
    merged = _rows(engine, "SELECT merged_into FROM actors WHERE id = :a",
                   a=before[("snap", "payer", "CP Committee")])  # fmt: skip
    assert merged == [(action,)]
    kinds = _rows(engine, "SELECT kind, curated FROM actors WHERE id = :a",
                  a=before[("snap", "agency", "Bully Pulpit Interactive")])  # fmt: skip
    assert [(k, bool(c)) for k, c in kinds] == [("agency", True)]
    untouched = [k for k in before if k[2] not in ("CP Committee",)]
    assert {k: curated[k] for k in untouched} == {k: before[k] for k in untouched}


def test_collect_reports_a_failed_resolution_and_keeps_the_data(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "actors.yaml").write_text("same:\n  - [only one]\n", encoding="utf-8")
    config = parse_config({"database": {"url": database_url}}, base_dir=tmp_path)
    from pipeline import db

    engine = db.make_engine(config.database_url)
    db.ensure_schema(engine)
    _load(engine, ADS)
    report = run_collection(config, engine, log=logging.getLogger("test"))
    assert report.exit_code == 1
    assert report.derived_failures["actors"].startswith(f"{tmp_path / 'actors.yaml'}:2: a pair")
    assert _rows(engine, "SELECT COUNT(*) FROM ads") == [(6,)]
    (tmp_path / "actors.yaml").unlink()
    # The failed resolution rolled back its extraction too: the mentions are new again.
    report = run_collection(config, engine, log=logging.getLogger("test"))
    assert report.exit_code == 0 and not report.derived_failures
    resolved = _rows(engine, "SELECT id, name, merged_into FROM actors ORDER BY id")
    assert resolved
    # Nothing new since: the next collection keeps that resolution instead of redoing it.
    with caplog.at_level(logging.INFO, logger="test"):
        report = run_collection(config, engine, log=logging.getLogger("test"))
    assert report.exit_code == 0
    assert "actors current: no new or changed ads" in caplog.text
    # A run with changed ads but no new name extracts links and keeps the resolution.
    summary = resolve_actors(config, engine, after_collection=True)
    assert summary.written is None
    assert re.fullmatch(r"actors current: [1-9]\d* mentions, none new", summary.line())
    assert _rows(engine, "SELECT id, name, merged_into FROM actors ORDER BY id") == resolved
    engine.dispose()


def _adlib(config: str, *args: str) -> Result:
    """`adlib <args> --config <config>` in-process (click's runner): fast for many calls."""
    return CliRunner().invoke(cli, [*args, "--config", config])


def test_cli_resolve_list_show_review_decide(database_url: str, tmp_path: Path) -> None:
    from pipeline import db

    engine = db.make_engine(database_url)
    db.ensure_schema(engine)
    _load(engine, ADS)
    config = str(write_config(tmp_path / "config.yaml", {"database": {"url": database_url}}))
    resolved = run_cli("actors", "resolve", "--config", config)  # once as a real process
    assert resolved.returncode == 0, resolved.stderr
    assert "resolved to" in resolved.stdout
    listed = _adlib(config, "actors", "list", "--min-sources", "2", "--json")
    names = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(names) == {"Climate Power", "Climate Power Action", "Bully Pulpit Interactive"}
    assert names["Climate Power"]["sources"] == "google,meta,snap"
    shown = _adlib(config, "actors", "show", "CLIMATE POWER")
    assert shown.exit_code == 0, shown.stderr
    assert "Bully Pulpit Interactive" in shown.stdout  # the agency, linked through the ads
    review_csv = tmp_path / "review.csv"
    reviewed = _adlib(config, "actors", "review", "--csv", str(review_csv))
    assert reviewed.exit_code == 0, reviewed.stderr
    assert "Climate Power,Climate Power Action" in review_csv.read_text(encoding="utf-8")
    decided = _adlib(
        config, "actors", "decide", "different", "Climate Power", "Climate Power Action"
    )
    assert decided.exit_code == 0, decided.stderr
    registry = tmp_path / "actors.yaml"
    assert "never_same" in registry.read_text(encoding="utf-8")
    _adlib(config, "actors", "review", "--csv", str(review_csv))
    assert "Climate Power Action" not in review_csv.read_text(encoding="utf-8")
    conflict = _adlib(config, "actors", "decide", "same", "Climate Power", "Climate Power Action")
    assert conflict.exit_code == 2
    assert conflict.stderr.count("\n") == 1 and "contradicts" in conflict.stderr
    # a registry that does not parse: one line naming file and line, exit 2, nothing changed
    before = registry.read_text(encoding="utf-8")
    counted = "SELECT COUNT(*), SUM(actor_id) FROM actor_mentions"
    state = _rows(engine, counted)
    registry.write_text(before + 'same:\n  - ["Climate Power"\n', encoding="utf-8")
    broken = _adlib(config, "actors", "resolve")
    assert broken.exit_code == 2
    assert re.fullmatch(
        rf"adlib: error: {re.escape(str(registry))}:\d+: not valid YAML: fix the syntax\n",
        broken.stderr,
    )
    assert _rows(engine, counted) == state
    # a name that matches nothing is a warning, and resolution goes on
    registry.write_text(before + 'same:\n  - ["Nobody Here", "Climate Power"]\n')
    warned = _adlib(config, "actors", "resolve")
    assert warned.exit_code == 0 and "'Nobody Here' matches no mention" in warned.stderr
    engine.dispose()


def test_a_collection_from_the_replicas_resolves_cross_platform_actors(
    replica_db: ReplicaDatabase,
) -> None:
    """`adlib collect` resolved after loading: the replicas' spellings of one organisation on
    three platforms are one actor, its "Action" arm another, and Snap's agency one actor."""
    names = rows(
        replica_db.url,
        "SELECT actor_id, source, role, name FROM v_actor_names"
        " WHERE name LIKE '%Climate Power%' OR name LIKE '%CLIMATE POWER%'"
        " OR name LIKE 'Middle Seat%'",
    )
    actor_of = {(source, role, name): actor for actor, source, role, name in names}
    climate = actor_of[("meta", "advertiser", "Climate Power")]
    assert {
        a for (s, _, n), a in actor_of.items() if n in ("CLIMATE POWER", "Climate Power Inc.")
    } == {climate}
    assert {s for (s, _, n), a in actor_of.items() if a == climate} == {"meta", "google", "snap"}
    assert actor_of[("meta", "advertiser", "Climate Power Action")] != climate
    agency = {a for (s, r, _), a in actor_of.items() if s == "snap" and r == "agency"}
    assert len(agency) == 1  # "Middle Seat Consulting LLC" and "Middle Seat Consulting"


def test_actors_pages_writes_a_watchlist_file_the_meta_collector_reads(
    hand_db: str, tmp_path: Path
) -> None:
    from collectors.meta.settings import Watchlist

    config = write_config(tmp_path / "config.yaml", {"database": {"url": hand_db}})
    result = CliRunner().invoke(
        cli, ["actors", "pages", "--config", str(config), "--source", "meta", "--country", "ke"]
    )
    assert (result.exit_code, result.stderr) == (0, "")
    out = result.stdout
    lines = out.splitlines()
    assert lines[0].startswith("# adlib actors pages: ")
    # Meta advertisers with ads in KE (the fixture's header): Kenya Forward and New Voices KE;
    # Pour l'École's Page ran in FR only.
    assert "1001  # Kenya Forward" in lines and "4004  # New Voices KE" in lines
    assert not any(line.startswith("3003") for line in lines)
    pages = tmp_path / "pages.txt"
    pages.write_text(out, encoding="utf-8")
    watchlist = Watchlist(page_ids_file=pages, countries=["FR"])
    assert set(watchlist.page_ids) >= {"1001", "4004"}
