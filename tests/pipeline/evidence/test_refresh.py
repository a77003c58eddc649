"""Message tests are refreshed after each collection; a failed refresh keeps the data."""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from pipeline import db
from pipeline.derived import run_step
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


def test_a_failed_refresh_is_reported_and_retried_by_the_next_run(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP VIEW v_message_tests"))
        conn.execute(text("DROP VIEW v_message_test_monthly"))
        conn.execute(text("ALTER TABLE message_test_variants RENAME TO mtv_gone"))
    with pytest.raises(SQLAlchemyError):
        refresh_indicators(engine)
    # The runner's derived step turns this into a reported failure (exit 1), data kept ...
    log, failures = logging.getLogger("test"), {}
    work = lambda: refresh_indicators(engine)  # noqa: E731
    run_step(engine, log, "indicators", work, failures=failures)
    assert "message_test_variants" in failures["indicators"]
    # ... and the next run retries it although it brings nothing new.
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE mtv_gone RENAME TO message_test_variants"))
    again: dict[str, str] = {}
    with caplog.at_level(logging.INFO, logger="test"):
        run_step(engine, log, "indicators", work, failures=again)
        assert again == {} and "indicators refreshed" in caplog.text
        caplog.clear()
        # Current now: a night without changes skips it.
        run_step(engine, log, "indicators", work, failures=again)
    assert "indicators current: no new or changed ads" in caplog.text


def test_worker_processes_give_the_same_clusters_as_one_process(
    replica_db: ReplicaDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large refresh clusters batches in worker processes; with batches of a few ads the
    replica's data takes that path too, and must store exactly what one process stores."""
    from pipeline.evidence.practices import message_tests

    query = "SELECT ad_id, cluster_id, advertiser_id, similarity FROM message_test_variants"
    engine = db.make_engine(replica_db.url)
    started: list[int] = []

    class CountingPool(ProcessPoolExecutor):
        def __init__(self, workers: int, **kwargs: Any) -> None:
            started.append(workers)
            super().__init__(workers, **kwargs)

    try:
        refresh_message_tests(engine)
        alone = sorted(rows(replica_db.url, query))
        monkeypatch.setattr(message_tests, "_BATCH_ADS", 3)
        monkeypatch.setattr(message_tests, "ProcessPoolExecutor", CountingPool)
        pooled = refresh_message_tests(engine)
    finally:
        engine.dispose()
    assert started and started[0] >= 2  # the pool really ran (CI machines have 2+ cores)
    assert sorted(rows(replica_db.url, query)) == alone
    assert pooled.variants == len(alone) > 0


def test_ads_written_since_the_last_success_make_the_steps_pending(engine: Engine) -> None:
    """A Page that writes ads queues them in its own transaction, so a run that stopped (or
    was killed) before its derived steps leaves them to the next run, even if that run finds
    nothing new; the actors step takes the queue and leaves the other steps pending."""
    from pipeline.derived import ads_written, claim_queue, release_queue

    log, calls = logging.getLogger("test"), []

    def work() -> str:
        calls.append("ran")
        return "done"

    run_step(engine, log, "indicators", work, failures={})  # never ran: runs
    run_step(engine, log, "indicators", work, failures={})  # current: skipped
    assert calls == ["ran"]
    with engine.begin() as conn:
        ads_written(conn, [1, 2])
    run_step(engine, log, "indicators", work, failures={})
    assert calls == ["ran", "ran"]
    with engine.begin() as conn:  # the actors step's part
        claim_queue(conn)
        release_queue(conn, "actors")
    run_step(engine, log, "indicators", work, failures={})  # ads it has not seen
    run_step(engine, log, "indicators", work, failures={})  # current again
    assert calls == ["ran", "ran", "ran"]
