"""Message tests are refreshed after each collection; a failed refresh keeps the data."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from pipeline import db
from pipeline.evidence.practices.message_tests import refresh_message_tests
from pipeline.evidence.practices.refresh import refresh_indicators
from tests.analyst_db import ReplicaDatabase, rows


def test_collection_leaves_the_clusters_current(replica_db: ReplicaDatabase) -> None:
    stored = rows(
        replica_db.url, "SELECT ad_id, cluster_id FROM message_test_variants ORDER BY ad_id"
    )
    assert stored  # the Meta replica's pages re-use one message per topic
    engine = db.make_engine(replica_db.url)
    try:
        again = refresh_message_tests(engine)
    finally:
        engine.dispose()
    # Recomputing from the same data gives the same clusters: the refresh after the run was
    # complete, and the method is deterministic.
    assert (
        rows(replica_db.url, "SELECT ad_id, cluster_id FROM message_test_variants ORDER BY ad_id")
        == stored
    )
    assert again.variants == len(stored)
    # Every cluster holds ads of one advertiser only.
    mixed = rows(
        replica_db.url,
        "SELECT v.cluster_id FROM message_test_variants v JOIN ads a ON a.id = v.ad_id "
        "GROUP BY v.cluster_id HAVING COUNT(DISTINCT a.advertiser_id) > 1",
    )
    assert mixed == []


def test_a_failed_refresh_raises_for_the_run_to_report_and_no_change_skips_it(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP VIEW v_message_tests"))
        conn.execute(text("DROP VIEW v_message_test_monthly"))
        conn.execute(text("ALTER TABLE message_test_variants RENAME TO mtv_gone"))
    # The runner's derived step turns this into a reported failure (exit 1), data kept.
    with pytest.raises(SQLAlchemyError):
        refresh_indicators(engine, changed_ads=1)
    # Nothing new: no refresh is attempted, so the missing table is not even touched.
    assert refresh_indicators(engine, changed_ads=0) == "indicators current: no new or changed ads"
