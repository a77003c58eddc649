"""A watchlist collected into the database (SQLite and PostgreSQL): library, NULLs, delisting."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, text

from collectors.replicas import ReplicaServer
from collectors.replicas.meta import MetaReplica
from pipeline.config import parse_config
from pipeline.runner import run_collection

TOKEN = "EAAwatchlistTOKEN000111"
PAGES = [str(100_000_000 + n) for n in range(12)]


def _run(engine: Engine, database_url: str, server: ReplicaServer, tmp_path: Path) -> None:
    config = parse_config(
        {
            "database": {"url": database_url},
            "data_dir": str(tmp_path / "data"),
            "countries": ["US"],
            "sources": {
                "meta": {
                    "base_url": server.url,
                    "access_token": TOKEN,
                    "page_size": 50,
                    "watchlist": {"page_ids": PAGES, "countries": ["FR"]},
                }
            },
        },
        base_dir=tmp_path,
    )
    report = run_collection(config, engine, log=logging.getLogger("adlib.test.watchlist"))
    assert report.exit_code == 0, [(o.scope, o.error) for o in report.outcomes]
    assert [o.scope for o in report.outcomes] == ["US", "watchlist:FR"]


def test_watchlist_ads_are_stored_with_their_library_and_delisted_when_gone(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    meta = MetaReplica(n_ads=300, countries=("US", "FR"), seed=5, token=TOKEN, all_ads=80)
    watched = meta.ads_for("FR", ad_type="ALL", page_ids=PAGES)
    any_type = sorted(set(watched) - set(meta.ads_for("FR")))
    with ReplicaServer(meta) as server:
        _run(engine, database_url, server, tmp_path)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT source_ad_id, library, spend_lower, spend_upper, impressions_lower"
                    " FROM v_ads WHERE library = 'all_ads' ORDER BY source_ad_id"
                )
            ).all()
            targeted = conn.execute(
                text(
                    "SELECT COUNT(DISTINCT a.id) FROM ads a JOIN ad_targeting t ON t.ad_id = a.id"
                    " WHERE a.library = 'all_ads'"
                )
            ).scalar_one()
        assert [r[0] for r in rows] == any_type
        assert all(r[1:] == ("all_ads", None, None, None) for r in rows)
        assert targeted == len(any_type)
        gone = any_type[:3]
        meta.expire_ads(gone)
        _run(engine, database_url, server, tmp_path)
    with engine.connect() as conn:
        delisted = conn.execute(
            text("SELECT source_ad_id FROM ads WHERE delisted_at IS NOT NULL ORDER BY source_ad_id")
        ).all()
        kept = conn.execute(text("SELECT COUNT(*) FROM ads WHERE library = 'all_ads'")).scalar_one()
    assert [r[0] for r in delisted] == gone
    assert kept == len(any_type)  # delisted ads keep their rows
