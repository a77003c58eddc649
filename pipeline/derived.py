"""The steps after a collection that rebuild tables from all the data: actors, indicators.

They run after a collection, one after the other under a lock shared by every process
(:func:`pipeline.lock.derived_lock`), when they are pending. What makes them pending is the
queue ``actor_link_queue``: the transaction that writes an ad (new or changed, seen in a new
country, or its advertiser renamed) adds the ad's id there (:func:`ads_written`), so even
``kill -9`` cannot leave a step wrongly current, and a night that brings nothing new skips
them (on a million ads, relinking every ad's actors alone costs seconds).

The actors step *claims* the queue rows it sees (:func:`claim_queue`), relinks only those ads,
and deletes exactly those rows in its own transaction (:func:`release_queue`), which also marks
the other steps pending: rows a concurrent collection adds meanwhile stay for the next run, and
no flag is written by the loaders, so they never wait on each other for it. ``derived_steps``
keeps each step's outcome: a failed step is pending (the actors step then relinks every ad), and
a failure is reported (the run exits 1) and never loses collected data, committed by then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    Select,
    Table,
    delete,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from pipeline.sqlutil import IN_CHUNK, BulkInsert, chunks, upsert
from schema.actor_tables import ActorLinkQueue
from schema.models import Ad, DerivedStep, table_of

_steps = table_of(DerivedStep)
_queue = table_of(ActorLinkQueue)
_ads = table_of(Ad)

#: The queue rows one actors step took (temporary: the step's transaction only).
_claimed = Table(
    "actor_link_queue_claimed",
    MetaData(),
    Column("seq", BigInteger, primary_key=True),
    Column("ad_id", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)


def ads_written(conn: Connection, ad_ids: Sequence[int]) -> None:
    """In the transaction that wrote them: these ads' actor links may have changed."""
    BulkInsert(conn, _queue, ["ad_id"]).write([(ad_id,) for ad_id in ad_ids])


def advertisers_renamed(conn: Connection, advertiser_ids: Sequence[int]) -> None:
    """In the transaction that renamed them: every ad of these advertisers names them."""
    for part in chunks(advertiser_ids, IN_CHUNK):
        ads = select(_ads.c.id).where(_ads.c.advertiser_id.in_(part))
        conn.execute(insert(_queue).from_select(["ad_id"], ads))


def claim_queue(conn: Connection) -> Select[Any]:
    """Take the queue's rows as this transaction sees them now; the ids of their ads.

    One ``INSERT ... SELECT`` reads them at one instant, so a row committed later is neither
    read nor deleted by :func:`release_queue`.
    """
    _claimed.create(conn, checkfirst=True)
    conn.execute(delete(_claimed))
    conn.execute(
        insert(_claimed).from_select(["seq", "ad_id"], select(_queue.c.seq, _queue.c.ad_id))
    )
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {_claimed.name}")  # temporary tables get no autovacuum
    return select(_claimed.c.ad_id)


def release_queue(conn: Connection, consumer: str) -> None:
    """Delete the rows :func:`claim_queue` took, and mark every step but ``consumer``
    pending: they have not seen these ads yet."""
    conn.execute(delete(_queue).where(_queue.c.seq.in_(select(_claimed.c.seq))))
    _claimed.drop(conn)
    conn.execute(update(_steps).where(_steps.c.step != consumer).values(pending=True))


def flagged(conn: Connection, step: str) -> bool:
    """Whether ``step`` never succeeded on this database, its last attempt failed, or an
    earlier step took queued ads it has not seen."""
    pending = conn.execute(select(_steps.c.pending).where(_steps.c.step == step)).scalar()
    return pending is None or bool(pending)


def run_step(
    engine: Engine,
    log: logging.Logger,
    step: str,
    work: Callable[[], str],
    *,
    failures: dict[str, str],
) -> None:
    """Run ``step`` if it is pending (ads were written since its last success, or that
    attempt failed); record the outcome; a failure goes into ``failures`` (the run's exit 1)
    and the log."""
    if not _pending(engine, step):
        log.info("%s current: no new or changed ads", step)
        return
    try:
        log.info(work())
    except Exception as exc:  # any failure: the collected data is committed and stays
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        failures[step] = reason
        log.error("%s step failed (collected data is kept): %s", step, reason)
        _record(engine, log, step, pending=True, error=reason)
        return
    _record(engine, log, step, pending=False, error=None)


def _pending(engine: Engine, step: str) -> bool:
    """Whether ``step`` must run: ads are queued, or it is :func:`flagged`."""
    with engine.connect() as conn:
        return bool(conn.execute(select(exists(_queue.select()))).scalar()) or flagged(conn, step)


def _record(
    engine: Engine, log: logging.Logger, step: str, *, pending: bool, error: str | None
) -> None:
    """Remember the outcome; if even that fails (the database is gone), say so and go on:
    the run's own outcome is already decided."""
    values: dict[str, Any] = {"step": step, "pending": pending, "error": error}
    if not pending:
        values["succeeded_at"] = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(upsert(conn, _steps, ["step"], values), values)
    except SQLAlchemyError as exc:
        log.error("could not record the %s step's outcome: %s", step, str(exc).splitlines()[0])
