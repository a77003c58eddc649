"""`adlib collect` end to end: the real CLI in a subprocess, the Meta replica on loopback.

Covers the acceptance of the foundation issue: volume with faults, idempotent reruns, change
history, kill -9 at several points followed by a rerun, no token anywhere, and the clear
messages for a missing token and an unreachable endpoint. Every case runs on SQLite and
PostgreSQL unless it is about SQLite's file (integrity_check).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from collectors.replicas import ReplicaServer
from collectors.replicas.meta import MetaReplica
from tests.conftest import run_cli, write_config

TOKEN = "EAAGtestTOKENnobodyShouldSee0123456789"
COUNTRIES = ["US", "BR", "KE"]


@pytest.fixture
def replica() -> Iterator[tuple[MetaReplica, ReplicaServer]]:
    meta = MetaReplica(n_ads=600, countries=COUNTRIES, seed=3, token=TOKEN)
    with ReplicaServer(meta) as server:
        yield meta, server


def _config(tmp_path: Path, database_url: str, server: ReplicaServer, **meta: Any) -> Path:
    settings = {
        "base_url": server.url,
        "access_token": "${ADLIB_TEST_META_TOKEN}",
        "page_size": 100,
        "timeout_seconds": 1.0,
        "retry_backoff_seconds": 0.05,
        **meta,
    }
    return write_config(
        tmp_path / "config.yaml",
        {
            "database": {"url": database_url},
            "data_dir": str(tmp_path / "data"),
            "countries": COUNTRIES,
            "sources": {"meta": settings},
        },
    )


def _collect(config: Path, *args: str, **env: str) -> Any:
    return run_cli(
        "collect",
        "--config",
        str(config),
        "--log-file",
        str(config.parent / "adlib.log"),
        *args,
        env={"ADLIB_TEST_META_TOKEN": TOKEN, **env},
    )


def _engine(url: str) -> Any:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _scalar(url: str, sql: str) -> Any:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, Any]:
    """Everything a rerun must reproduce exactly, independent of surrogate ids and times."""
    queries = {
        "ads": "SELECT source_ad_id, spend_lower, spend_upper, impressions_lower, impressions_upper,"
        " audience_lower, audience_upper, content_hash FROM ads ORDER BY source_ad_id",
        "countries": "SELECT a.source_ad_id, c.country_code FROM ad_countries c JOIN ads a ON a.id = c.ad_id"
        " ORDER BY 1, 2",
        "observations": "SELECT a.source_ad_id, COUNT(*) FROM ad_observations o JOIN ads a ON a.id = o.ad_id"
        " GROUP BY a.source_ad_id ORDER BY 1",
    }
    for table in (
        "ad_regions",
        "ad_demographics",
        "ad_creatives",
        "ad_targeting",
        "ad_reach_breakdown",
        "ad_beneficiary_payers",
        "ad_languages",
        "ad_platforms",
    ):
        queries[table] = (
            f"SELECT a.source_ad_id, COUNT(*) FROM {table} t JOIN ads a ON a.id = t.ad_id "
            "GROUP BY a.source_ad_id ORDER BY 1"
        )
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: [tuple(r) for r in conn.execute(text(sql))] for name, sql in queries.items()
            }
    finally:
        engine.dispose()


def _expected_children(meta: MetaReplica) -> dict[str, int]:
    """Child-row totals computed from the replica's own JSON, not from adlib's code."""
    totals = {"ad_regions": 0, "ad_demographics": 0, "ad_countries": 0}
    by_country = {c: set(meta.ads_for(c)) for c in COUNTRIES}
    for ad_id in meta.ad_ids:
        ad = meta.ad(ad_id)
        totals["ad_regions"] += len({r["region"] for r in ad.get("delivery_by_region", [])})
        totals["ad_demographics"] += len(
            {(d["age"], d["gender"]) for d in ad.get("demographic_distribution", [])}
        )
        reached = {c for c in COUNTRIES if ad_id in by_country[c]}
        eu = {b["country"] for b in ad.get("age_country_gender_reach_breakdown", [])}
        totals["ad_countries"] += len(reached | eu)
    return totals


@pytest.mark.slow
def test_thousands_of_ads_with_faults_land_exactly_once(database_url: str, tmp_path: Path) -> None:
    meta = MetaReplica(
        n_ads=5000,
        countries=COUNTRIES,
        seed=11,
        token=TOKEN,
        fault_rate=0.1,
        fault_seed=5,
        slow_seconds=1.5,
    )
    with ReplicaServer(meta) as server:
        config = _config(tmp_path, database_url, server, page_size=250)
        done = _collect(config)
    assert done.returncode == 0, done.stderr
    by_country = {c: set(meta.ads_for(c)) for c in COUNTRIES}
    clean_requests = sum(len(ads) // 250 + 1 for ads in by_country.values())
    assert meta.calls > clean_requests  # the run really went through retries
    assert len(set(meta.ad_ids)) == 5000
    assert _scalar(database_url, "SELECT COUNT(*) FROM ads") == 5000
    assert _scalar(database_url, "SELECT COUNT(DISTINCT source_ad_id) FROM ads") == 5000
    assert sum(1 for ad in meta.ad_ids if sum(ad in ads for ads in by_country.values()) > 1) > 100
    expected = _expected_children(meta)
    for table, total in expected.items():
        assert _scalar(database_url, f"SELECT COUNT(*) FROM {table}") == total, table
    assert _scalar(database_url, "SELECT COUNT(*) FROM ad_observations") == 5000


def test_rerun_is_idempotent_and_spend_changes_make_exact_history(
    replica: tuple[MetaReplica, ReplicaServer], database_url: str, tmp_path: Path
) -> None:
    meta, server = replica
    config = _config(tmp_path, database_url, server)
    assert _collect(config).returncode == 0
    first = snapshot(database_url)
    again = _collect(config)
    assert again.returncode == 0, again.stderr
    last_runs = (
        "SELECT SUM(new), SUM(observations) FROM collection_runs WHERE id IN "
        "(SELECT MAX(id) FROM collection_runs GROUP BY scope)"
    )
    engine = _engine(database_url)
    with engine.connect() as conn:
        assert tuple(conn.execute(text(last_runs)).one()) == (0, 0)
    engine.dispose()
    assert snapshot(database_url) == first
    changed = meta.bump_spend(50)
    assert _collect(config).returncode == 0
    assert _scalar(database_url, "SELECT COUNT(*) FROM ad_observations") == 600 + 50
    rows = _scalar(
        database_url,
        "SELECT COUNT(DISTINCT a.source_ad_id) FROM ad_observations o JOIN ads a ON a.id = o.ad_id "
        "WHERE o.run_id = (SELECT MAX(run_id) FROM ad_observations)",
    )
    assert rows <= 50
    engine = _engine(database_url)
    with engine.connect() as conn:
        twice = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT a.source_ad_id FROM ad_observations o JOIN ads a ON a.id = o.ad_id "
                    "GROUP BY a.source_ad_id HAVING COUNT(*) = 2"
                )
            )
        }
    engine.dispose()
    assert twice == set(changed)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The snapshot of one clean run against the same (deterministic) replica data."""
    folder = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{folder / 'reference.sqlite'}"
    meta = MetaReplica(n_ads=600, countries=COUNTRIES, seed=3, token=TOKEN)
    with ReplicaServer(meta) as server:
        assert _collect(_config(folder, url, server)).returncode == 0
    return snapshot(url)


@pytest.mark.parametrize(
    "kill_at", ["page_fetched:2", "in_batch:1", "in_batch:5", "after_commit:3", "page_fetched:8"]
)
def test_kill_9_then_rerun_equals_an_uninterrupted_run(
    replica: tuple[MetaReplica, ReplicaServer],
    uninterrupted: dict[str, Any],
    tmp_path: Path,
    kill_at: str,
) -> None:
    _, server = replica
    url = f"sqlite:///{tmp_path / 'killed.sqlite'}"
    config = _config(tmp_path, url, server)
    killed = _collect(config, ADLIB_FAULT_KILL=kill_at)
    assert killed.returncode == -9, killed.stderr
    resumed = _collect(config)
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(url) == uninterrupted
    path = make_url(url).database
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert _scalar(url, "SELECT COUNT(*) FROM collection_runs WHERE status = 'interrupted'") >= 1


def test_kill_9_then_rerun_on_postgresql(
    replica: tuple[MetaReplica, ReplicaServer],
    uninterrupted: dict[str, Any],
    pg_database: str,
    tmp_path: Path,
) -> None:
    _, server = replica
    config = _config(tmp_path, pg_database, server)
    assert _collect(config, ADLIB_FAULT_KILL="in_batch:4").returncode == -9
    assert _collect(config).returncode == 0
    assert snapshot(pg_database) == uninterrupted


def _all_text(url: str) -> str:
    """Every value of every table as text (PostgreSQL has no single file to scan)."""
    engine = _engine(url)
    with engine.connect() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
        ]
        dump = "\n".join(
            str(row) for t in tables for row in conn.execute(text(f'SELECT t::text FROM "{t}" t'))
        )
    engine.dispose()
    return dump


def test_the_token_appears_nowhere(
    replica: tuple[MetaReplica, ReplicaServer], database_url: str, tmp_path: Path
) -> None:
    meta, server = replica
    meta.fault_rate = 0.2
    config = _config(tmp_path, database_url, server)
    outputs = [_collect(config)]
    meta.set_token_valid(False)
    rejected = _collect(config)
    outputs.append(rejected)
    assert rejected.returncode == 1
    assert "190" in rejected.stdout + rejected.stderr
    assert "token" in (rejected.stdout + rejected.stderr).lower()
    outputs.append(run_cli("status", "--config", str(config)))
    for out in outputs:
        assert TOKEN not in out.stdout and TOKEN not in out.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    if database_url.startswith("postgresql"):
        assert TOKEN not in _all_text(database_url)
    assert _scalar(database_url, "SELECT COUNT(*) FROM raw_records") > 0


def test_without_a_token_meta_is_skipped_with_the_reason(
    replica: tuple[MetaReplica, ReplicaServer], tmp_path: Path
) -> None:
    _, server = replica
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", server)
    done = run_cli("collect", "--config", str(config), env={"ADLIB_TEST_META_TOKEN": ""})
    assert done.returncode == 0
    assert "meta skipped" in done.stderr
    assert "ADLIB_TEST_META_TOKEN" in done.stderr
    asked = run_cli(
        "collect", "--config", str(config), "--source", "meta", env={"ADLIB_TEST_META_TOKEN": ""}
    )
    assert asked.returncode == 2
    assert asked.stderr.count("\n") == 1 and "ADLIB_TEST_META_TOKEN" in asked.stderr


def test_unreachable_endpoint_is_one_clear_line(tmp_path: Path) -> None:
    class Closed:
        url = "http://127.0.0.1:9"

    config = _config(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", Closed(), max_retries=1)  # type: ignore[arg-type]
    done = _collect(config, "--country", "KE")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "meta/KE" in errors[0]
