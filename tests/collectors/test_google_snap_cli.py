"""`adlib collect --source google/snap` through the real CLI, on SQLite and PostgreSQL.

The replicas run in this process on loopback; the CLI runs in a subprocess exactly as cron
would. Covers the bulk-file acceptance: unchanged bundle → one conditional request and no
writes; 1 % of ads changed → exactly those get observations; vanished ads → delisted_at (and
cleared when they return); a dropped connection or a truncated zip → that scope fails with a
clear message, the database is as it was, and the next run succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from collectors.replicas import ReplicaServer
from collectors.replicas.google import GoogleBundleReplica
from collectors.replicas.snap import SnapReplica
from tests.conftest import run_cli, write_config

GOOGLE_ADS = 300


@pytest.fixture
def google(tmp_path: Path) -> Iterator[tuple[GoogleBundleReplica, ReplicaServer]]:
    replica = GoogleBundleReplica(tmp_path / "google", ads=GOOGLE_ADS, seed=5)
    with ReplicaServer(replica.handle) as server:
        yield replica, server


@pytest.fixture
def snap(tmp_path: Path) -> Iterator[tuple[SnapReplica, ReplicaServer]]:
    replica = SnapReplica(tmp_path / "snap", years=(2020, 2023), ads=20)
    with ReplicaServer(replica.handle) as server:
        yield replica, server


def configure(tmp_path: Path, database_url: str, **sources: dict[str, Any]) -> Path:
    settings = {name: {**value, "max_retries": 0} for name, value in sources.items()}
    return write_config(
        tmp_path / "config.yaml",
        {
            "database": {"url": database_url},
            "data_dir": str(tmp_path / "data"),
            "sources": settings,
        },
    )


def collect(config: Path, *sources: str) -> Any:
    args = [arg for source in sources for arg in ("--source", source)]
    return run_cli("collect", "--config", str(config), *args)


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def state(url: str) -> dict[str, Any]:
    """What a failed or unchanged run must leave exactly as it was."""
    return {
        "ads": query(url, "SELECT source, source_ad_id, content_hash, delisted_at FROM ads ORDER BY 1, 2"),
        "observations": query(url, "SELECT COUNT(*) FROM ad_observations"),
        "checkpoints": query(url, "SELECT source, scope, state FROM checkpoints ORDER BY 1, 2"),
        "weekly": query(url, "SELECT COUNT(*) FROM google_advertiser_weekly_spend"),
    }  # fmt: skip


def test_google_bundle_lifecycle(
    tmp_path: Path, database_url: str, google: tuple[GoogleBundleReplica, ReplicaServer]
) -> None:
    replica, server = google
    config = configure(tmp_path, database_url, google=replica.settings(server.url))
    first = collect(config, "google")
    assert first.returncode == 0, first.stdout + first.stderr
    assert query(database_url, "SELECT COUNT(*) FROM ads WHERE source = 'google'") == [
        (GOOGLE_ADS,)
    ]
    assert query(database_url, "SELECT report_date FROM checkpoints")[0][0] is not None
    assert query(database_url, "SELECT COUNT(*) FROM google_id_mappings") == [(2,)]
    lee = query(
        database_url,
        "SELECT public_ids FROM advertisers WHERE source_advertiser_id = 'AR17375362763735433217'",
    )
    assert "FEC ID C00473827" in str(lee)

    before, requests = state(database_url), len(server.requests)
    unchanged = collect(config, "google")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert len(server.requests) == requests + 1
    assert state(database_url) == before

    changed = set(replica.change_ads(0.01))
    observed = query(database_url, "SELECT COUNT(*) FROM ad_observations")[0][0]
    assert collect(config, "google").returncode == 0
    new_rows = query(
        database_url,
        f"SELECT a.source_ad_id FROM ad_observations o JOIN ads a ON a.id = o.ad_id "
        f"ORDER BY o.id DESC LIMIT {len(changed) + 1}",
    )
    assert query(database_url, "SELECT COUNT(*) FROM ad_observations")[0][0] == observed + len(
        changed
    )
    assert {row[0] for row in new_rows[: len(changed)]} == changed

    removed = replica.remove_ads(3)
    assert collect(config, "google").returncode == 0
    delisted = query(database_url, "SELECT source_ad_id FROM ads WHERE delisted_at IS NOT NULL")
    assert {row[0] for row in delisted} == set(removed)
    assert query(database_url, "SELECT COUNT(*) FROM ads") == [(GOOGLE_ADS,)]

    replica.restore_ads(removed)
    assert collect(config, "google").returncode == 0
    assert query(database_url, "SELECT COUNT(*) FROM ads WHERE delisted_at IS NOT NULL") == [(0,)]


@pytest.mark.parametrize("fault", ["drop", "truncated"])
def test_failed_download_leaves_the_database_as_it_was(
    tmp_path: Path,
    database_url: str,
    google: tuple[GoogleBundleReplica, ReplicaServer],
    fault: str,
) -> None:
    replica, server = google
    config = configure(tmp_path, database_url, google=replica.settings(server.url))
    assert collect(config, "google").returncode == 0
    before = state(database_url)
    replica.change_ads(0.05)
    replica.inject(fault)  # type: ignore[arg-type]
    failed = collect(config, "google")
    assert failed.returncode == 1
    output = failed.stdout + failed.stderr
    assert ("peer closed connection" if fault == "drop" else "not a readable zip") in output
    assert state(database_url) == before
    assert collect(config, "google").returncode == 0
    assert state(database_url) != before


def test_snap_years_both_headers(
    tmp_path: Path, database_url: str, snap: tuple[SnapReplica, ReplicaServer]
) -> None:
    replica, server = snap
    config = configure(tmp_path, database_url, snap=replica.settings(server.url))
    result = collect(config, "snap")
    assert result.returncode == 0, result.stdout + result.stderr
    assert query(database_url, "SELECT scope, COUNT(*) FROM ads GROUP BY scope ORDER BY scope") == [
        ("2020", 25),
        ("2023", 20),
    ]
    truth = query(
        database_url,
        "SELECT spend_lower, spend_upper, impressions_lower, currency FROM ads "
        "WHERE source_ad_id LIKE 'e2daee05%'",
    )
    assert truth == [(7107, 7107, 741638, "USD")]
    irish = query(
        database_url,
        "SELECT c.country_code FROM ad_countries c JOIN ads a ON a.id = c.ad_id "
        "WHERE a.source_ad_id LIKE 'bf2394ce%'",
    )
    assert irish == [("IE",)]
    regions = query(
        database_url,
        "SELECT t.value, t.included FROM ad_targeting t JOIN ads a ON a.id = t.ad_id "
        "WHERE a.source_ad_id LIKE 'a0c4ef05%' AND t.dimension = 'region'",
    )
    assert [(value, bool(included)) for value, included in regions] == [("North Carolina", False)]
    notices = query(database_url, "SELECT notices FROM collection_runs WHERE scope = '2023'")
    assert "invalid UTF-8" in str(notices)


def test_bundles_beyond_keep_files_are_pruned_and_their_rows_kept(
    tmp_path: Path, database_url: str, google: tuple[GoogleBundleReplica, ReplicaServer]
) -> None:
    replica, server = google
    config = configure(
        tmp_path, database_url, google={**replica.settings(server.url), "keep_files": 2}
    )
    for run in range(3):
        if run:
            replica.change_ads(0.02)
        result = collect(config, "google")
        assert result.returncode == 0, result.stdout + result.stderr
    files = query(
        database_url,
        "SELECT path, pruned_at FROM raw_records WHERE kind = 'file' ORDER BY fetched_at, id",
    )
    assert len({path for path, _ in files}) == 3
    on_disk = {path for path, _ in files if (tmp_path / "data" / path).exists()}
    assert [pruned is not None for _, pruned in files] == [True, False, False]
    assert on_disk == {path for path, pruned in files if pruned is None}
    assert len(list((tmp_path / "data" / "raw").rglob("*.zip"))) == 2
    assert query(database_url, "SELECT COUNT(*) FROM ads") == [(GOOGLE_ADS,)]

    unchanged = collect(config, "google")
    assert unchanged.returncode == 0
    assert query(database_url, "SELECT COUNT(*) FROM raw_records WHERE pruned_at IS NULL "
                 "AND kind = 'file'") == [(2,)]  # fmt: skip
