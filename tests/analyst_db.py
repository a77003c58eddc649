"""Fixture databases for the analyst features: views, cookbook, search and export.

Two databases per engine, built once per test session and only ever read afterwards:

* ``hand_db``: the hand-written ads of ``tests/fixtures/analyst/ads.yaml`` loaded through the
  real loader (:func:`pipeline.load.load_page`) in two runs a week apart. Small enough that
  every expected row in the tests is worked out by hand from that file.
* ``replica_db``: a real collection (:func:`pipeline.runner.run_collection`) from the Meta,
  Google and Snap replicas with fixed seeds; expectations are computed from the replicas' own
  generated data or from simple SQL over the base tables, never from adlib's output.

Tests that write (index updates, a changed ad) use the function-scoped ``database_url``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from collectors.records import (
    AdvertiserRecord,
    CreativeRecord,
    DemographicShare,
    NormalisedAd,
    Page,
    RegionShare,
    SpendRange,
    TableRows,
    TargetingItem,
)
from collectors.redact import Redactor
from collectors.replicas import ReplicaServer
from collectors.replicas.google import GoogleBundleReplica
from collectors.replicas.meta import MetaReplica
from collectors.replicas.snap import SnapReplica
from pipeline import db
from pipeline.actors_step import mention_fields
from pipeline.config import parse_config
from pipeline.evidence import actors
from pipeline.evidence.actors.registry import Registry
from pipeline.load import load_page
from pipeline.runner import open_run, run_collection
from tests.conftest import FIXTURES, _pg_admin_url, _pg_reachable, write_config

HAND_FILE = FIXTURES / "analyst" / "ads.yaml"
META_COUNTRIES = ("KE", "US", "FR", "GB")
META_SEED = 11
META_ADS = 160
META_TODAY = date(2026, 3, 1)
META_TOKEN = "EAAanalystFixtureToken000000"


def _day(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.combine(date.fromisoformat(str(value)), datetime.min.time(), tzinfo=UTC)


def _pair(values: list[Any] | None) -> tuple[Any, Any]:
    return (values[0], values[1]) if values else (None, None)


def hand_ad(ad_id: str, spec: dict[str, Any]) -> NormalisedAd:
    """One ad of the YAML file as the record a collector would produce."""
    spend, impressions, usd = (
        _pair(spec["spend"]),
        _pair(spec["impressions"]),
        _pair(spec.get("spend_usd")),
    )
    start, stop = spec["delivery"]
    currency = spec["currency"]
    return NormalisedAd(
        source=spec["source"],
        source_ad_id=ad_id,
        advertiser=AdvertiserRecord(**spec["advertiser"]),
        funder=spec.get("funder"),
        delivery_start=_day(start),
        delivery_stop=_day(stop),
        currency=currency,
        spend_lower=spend[0],
        spend_upper=spend[1],
        spend_usd_lower=usd[0],
        spend_usd_upper=usd[1],
        impressions_lower=impressions[0],
        impressions_upper=impressions[1],
        countries=list(spec["countries"]),
        creatives=[CreativeRecord(i, **c) for i, c in enumerate(spec.get("creatives", []))],
        regions=[RegionShare(r, s) for r, s in spec.get("regions", {}).items()],
        demographics=[DemographicShare(*cell) for cell in spec.get("demographics", [])],
        targeting=[TargetingItem(*item) for item in spec.get("targeting", [])],
        spends=[SpendRange(currency, *spend)],
    )


def hand_data(path: Path = HAND_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _open_run(engine: Engine, source: str, scope: str, at: datetime) -> int:
    return open_run(engine, source, scope, at, status="success", finished_at=at)


def build_hand_database(url: str, path: Path = HAND_FILE) -> None:
    """Load the YAML runs of ``path`` into a new database at ``url``, through the real loader."""
    data = hand_data(path)
    engine = db.make_engine(url)
    db.ensure_schema(engine)
    for run in data["runs"]:
        at = datetime.fromisoformat(str(run["at"])).replace(tzinfo=UTC)
        for page in run["pages"]:
            ads = []
            for ad_id in page["ads"]:
                spec = {**data["ads"][ad_id], **page.get("changes", {}).get(ad_id, {})}
                ads.append(hand_ad(ad_id, spec))
            run_id = _open_run(engine, page["source"], page["scope"], at)
            complete = bool(page.get("listing_complete"))
            loaded = Page(
                page["scope"],
                {"run": str(at)},
                ads=ads,
                listing_complete=complete,
                listing_started_at=at if complete else None,
            )
            with engine.begin() as conn:
                load_page(
                    conn, loaded, source=page["source"], run_id=run_id, now=at, redactor=Redactor()
                )
    _load_reports(engine, data.get("reports", []))
    with engine.begin() as conn:  # as `adlib collect` does after loading
        actors.run(conn, mention_fields(), Registry(), at)
    engine.dispose()


def _load_reports(engine: Engine, reports: list[dict[str, Any]]) -> None:
    """Meta Ad Library Report rows, through the loader as `adlib import` writes them."""
    if not reports:
        return
    at = datetime(2026, 3, 8, 1, tzinfo=UTC)  # before run 2 ends: provenance unchanged
    run_id = _open_run(engine, "meta", "report:KE", at)
    page = Page("report:KE", {}, tables=[TableRows("meta_report_spend", ("row_key",), reports)])
    with engine.begin() as conn:
        load_page(conn, page, source="meta", run_id=run_id, now=at, redactor=Redactor())


@dataclass
class ReplicaDatabase:
    """A database collected from the replicas, and the replicas it was collected from."""

    url: str
    meta: MetaReplica
    google: GoogleBundleReplica
    snap: SnapReplica


def build_replica_database(url: str, workdir: Path) -> ReplicaDatabase:
    """Collect once from the three replicas into a new database at ``url``."""
    meta = MetaReplica(
        n_ads=META_ADS, countries=META_COUNTRIES, seed=META_SEED, token=META_TOKEN, today=META_TODAY
    )
    google = GoogleBundleReplica(workdir / "google", ads=40, seed=3)
    snap = SnapReplica(workdir / "snap", years=(2022,), ads=15, seed=5)
    with (
        ReplicaServer(meta) as meta_server,
        ReplicaServer(google.handle) as google_server,
        ReplicaServer(snap.handle) as snap_server,
    ):
        config = parse_config(
            {
                "database": {"url": url},
                "data_dir": str(workdir / "data"),
                "countries": list(META_COUNTRIES),
                "sources": {
                    "meta": {
                        "base_url": meta_server.url,
                        "access_token": META_TOKEN,
                        "page_size": 100,
                    },
                    "google": google.settings(google_server.url),
                    "snap": snap.settings(snap_server.url),
                },
            },
            base_dir=workdir,
        )
        engine = db.make_engine(url)
        db.ensure_schema(engine)
        report = run_collection(config, engine, log=logging.getLogger("adlib.tests.analyst"))
        engine.dispose()
    assert report.exit_code == 0, [(o.source, o.scope, o.error) for o in report.outcomes]
    return ReplicaDatabase(url, meta, google, snap)


class _Databases:
    """Creates and drops the session's PostgreSQL databases."""

    def __init__(self) -> None:
        self.admin: Engine | None = None
        self.names: list[str] = []

    def new(self, tmp: Path, engine_name: str) -> str:
        if engine_name == "sqlite":
            return f"sqlite:///{tmp / 'adlib.sqlite'}"
        admin_url = _pg_admin_url()
        if admin_url is None:
            pytest.skip("PostgreSQL tests need ADLIB_TEST_PG_URL (CI sets it via .ci/run)")
        _pg_reachable(admin_url)
        if self.admin is None:
            # No pool: the reliability matrix restarts the server mid-session.
            self.admin = create_engine(
                admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                isolation_level="AUTOCOMMIT",
                poolclass=NullPool,
            )
        name = f"adlib_analyst_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.admin is None:
            return
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def _analyst_databases() -> Iterator[_Databases]:
    databases = _Databases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def hand_db(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _analyst_databases: _Databases,
) -> str:
    """URL of the hand-written fixture database (built once per engine)."""
    url = _analyst_databases.new(tmp_path_factory.mktemp("hand"), request.param)
    build_hand_database(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def replica_db(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _analyst_databases: _Databases,
) -> ReplicaDatabase:
    """The database collected from the replicas (built once per engine)."""
    tmp = tmp_path_factory.mktemp("replica")
    return build_replica_database(_analyst_databases.new(tmp, request.param), tmp)


def rows(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Plain SQL over the base tables (the independent side of a comparison)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def plain(value: Any) -> Any:
    """A value as both engines can be compared on: times as ISO text, numbers as numbers."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 26 and value[10] == " " and value[19] == ".":
        return value[:19]  # SQLite's stored UTC text, without the microseconds
    if isinstance(value, Decimal):
        return float(value)
    return value


def normalised(found: list[tuple[Any, ...]], digits: int = 4) -> list[tuple[Any, ...]]:
    """Rows with :func:`plain` values and floats rounded, to compare with hand-made rows."""
    return [
        tuple(round(v, digits) if isinstance(v, float) else v for v in map(plain, row))
        for row in found
    ]


def invoke(url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """`adlib <args>` in-process (click's runner) against ``url``: (exit code, stdout, stderr).

    Fast enough to call dozens of times; each command module also has one test through
    :func:`tests.conftest.run_cli`, the real subprocess.
    """
    from click.testing import CliRunner

    from pipeline.cli import cli

    config = write_config(tmp_path / "config.yaml", {"database": {"url": url}})
    command, *rest = args
    result = CliRunner().invoke(cli, [command, "--config", str(config), *rest])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr
