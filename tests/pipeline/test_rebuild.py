"""`adlib db rebuild`: the raw archive alone re-derives the same database, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from collectors.replicas import ReplicaServer
from collectors.replicas.meta import MetaReplica
from schema.models import AD_CHILD_TABLES
from tests.conftest import run_cli, write_config
from tests.pipeline.ops_helpers import bulk_replicas, ops_config

TOKEN = "EAAGrebuildTOKENneverStored0001"
#: adlib's own bookkeeping: ids, run ids and the times adlib (not the platform) wrote.
OWN = {
    "id",
    "ad_id",
    "advertiser_id",
    "funder_id",
    "run_id",
    "raw_record_id",
    "first_seen_at",
    "last_seen_at",
    "changed_at",
    "updated_at",
    "observed_at",
    "delisted_at",  # compared as a flag: whether the ad is delisted (see _snapshot)
}


def _rows(url: str, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` keyed by its ad's platform id, without adlib's own columns."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            empty = conn.execute(text(f"SELECT * FROM {table} WHERE 1 = 0"))
            columns = ", ".join(f"t.{c}" for c in empty.keys() if c not in OWN)  # noqa: SIM118
            if table == "ads":
                return sorted(
                    (tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM ads t"))), key=repr
                )
            sql = (
                f"SELECT a.source, a.source_ad_id, {columns} FROM {table} t "
                "JOIN ads a ON a.id = t.ad_id ORDER BY a.source, a.source_ad_id"
            )
            if table == "ad_observations":
                # History in order: each ad's series, oldest first.
                sql += ", t.observed_at, t.id"
                return [tuple(r) for r in conn.execute(text(sql))]
            return sorted((tuple(r) for r in conn.execute(text(sql))), key=repr)
    finally:
        engine.dispose()


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    tables = ["ads", "ad_observations", *(t.name for t in AD_CHILD_TABLES)]
    snap = {table: _rows(url, table) for table in tables}
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        snap["advertisers"] = sorted(
            tuple(r)
            for r in conn.execute(
                text("SELECT source, source_advertiser_id, name FROM advertisers")
            )
        )
        snap["funders"] = sorted(tuple(r) for r in conn.execute(text("SELECT name FROM funders")))
        snap["delisted"] = sorted(
            tuple(r)
            for r in conn.execute(
                text("SELECT source, source_ad_id FROM ads WHERE delisted_at IS NOT NULL")
            )
        )
        snap["checkpoints"] = sorted(
            (r[0], r[1], repr(r[2]))
            for r in conn.execute(text("SELECT source, scope, state FROM checkpoints"))
        )
    engine.dispose()
    return snap


def test_collect_then_rebuild_gives_the_same_ads_children_and_history(
    database_url: str, another_database_url: str, tmp_path: Path
) -> None:
    replica = MetaReplica(n_ads=120, countries=["US", "KE", "BR"], seed=11, token=TOKEN)
    with ReplicaServer(replica) as server:
        config = write_config(
            tmp_path / "config.yaml",
            {
                "database": {"url": database_url},
                "data_dir": str(tmp_path / "data"),
                "countries": ["US", "KE", "BR"],
                "sources": {
                    "meta": {
                        "base_url": server.url,
                        "access_token": "${ADLIB_TEST_META_TOKEN}",
                        "page_size": 25,
                    }
                },
            },
        )
        env = {"ADLIB_TEST_META_TOKEN": TOKEN}
        assert run_cli("collect", "--config", str(config), env=env).returncode == 0
        replica.bump_spend(15)
        replica.add_ads(5)
        second = run_cli("collect", "--config", str(config), env=env)
        assert second.returncode == 0, second.stderr
    # The replica is gone: any request to a platform would fail the rebuild.
    rebuilt = run_cli("db", "rebuild", "--config", str(config), "--to", another_database_url)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "raw records replayed" in rebuilt.stdout

    original, copy = _snapshot(database_url), _snapshot(another_database_url)
    assert len(original["ads"]) == 125 and len(original["ad_observations"]) > 125
    for table, rows in original.items():
        assert copy[table] == rows, table
    assert TOKEN not in rebuilt.stdout + rebuilt.stderr
    engine = create_engine(
        another_database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    )
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT status, pages, records FROM collection_runs")).all()
    engine.dispose()
    # One run per scope replayed, counted by the loader: a page per archived page, its ads.
    assert {status for status, _, _ in runs} == {"success"}
    assert sum(pages for _, pages, _ in runs) == int(rebuilt.stdout.split(" of ")[0].split()[-1])
    assert sum(records for _, _, records in runs) >= len(original["ads"])

    again = run_cli("db", "rebuild", "--config", str(config), "--to", another_database_url)
    assert again.returncode == 2 and "is not empty" in again.stderr
    same = run_cli("db", "rebuild", "--config", str(config), "--to", database_url)
    assert same.returncode == 2 and len(same.stderr.strip().splitlines()) == 1


def test_bulk_files_replay_as_the_listings_they_were(
    database_url: str, another_database_url: str, tmp_path: Path
) -> None:
    with bulk_replicas(tmp_path / "replicas") as replicas:
        sources = replicas.sources(google={"keep_files": None}, snap={"keep_files": None})
        config = ops_config(tmp_path, database_url, sources)
        assert run_cli("collect", "--config", str(config)).returncode == 0
        replicas.google.change_ads(0.2)
        removed = replicas.google.remove_ads(3)  # delisted by the next listing
        replicas.snap.change_ads(2022, 0.3)
        assert run_cli("collect", "--config", str(config)).returncode == 0
    rebuilt = run_cli("db", "rebuild", "--config", str(config), "--to", another_database_url)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr

    original, copy = _snapshot(database_url), _snapshot(another_database_url)
    assert {ad_id for _, ad_id in original["delisted"]} == set(removed)
    assert len(original["ad_observations"]) > len(original["ads"])  # the changes are history
    for table, rows in original.items():
        assert copy[table] == rows, table


def test_a_bulk_file_pruned_by_retention_leaves_its_scope_incomplete(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'adlib.sqlite'}"
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = ops_config(tmp_path, database_url, replicas.sources(google={"keep_files": 1}))
        assert run_cli("collect", "--config", str(config), "--source", "google").returncode == 0
        replicas.google.change_ads(0.2)
        assert run_cli("collect", "--config", str(config), "--source", "google").returncode == 0
    target = f"sqlite:///{tmp_path / 'rebuilt.sqlite'}"
    rebuilt = run_cli("db", "rebuild", "--config", str(config), "--to", target)
    assert rebuilt.returncode == 1, rebuilt.stdout + rebuilt.stderr
    assert (
        "PROBLEM google/bundle: incomplete: bulk files deleted by retention (keep_files) "
        "cannot be replayed" in rebuilt.stdout
    )
