"""The steps after a collection that rebuild tables from all the data: actors, indicators.

They run after a collection, one after the other under a lock shared by every process
(:func:`pipeline.lock.derived_lock`), when ``derived_steps`` says a step is pending: new or
changed ads were written since it last succeeded (by this run, or by one that never got to it:
stopped, killed, or an import), or its last attempt failed. Every Page that writes new or
changed ads marks the steps pending in its own transaction (:func:`mark_stale`), so even
``kill -9`` cannot leave them wrongly current, and a night that brings nothing new skips them
(on a million ads, extracting the actor links alone costs seconds). A failure is reported (the run exits 1)
and never loses collected data, which is committed by then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from pipeline.sqlutil import upsert
from schema.models import DerivedStep, table_of

_steps = table_of(DerivedStep)


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


def mark_stale(conn: Connection) -> None:
    """In a Page's transaction that wrote ads: every derived step is pending again. Only rows
    not already pending are touched, so Pages after the first write nothing here."""
    conn.execute(update(_steps).where(_steps.c.pending.is_(False)).values(pending=True))


def _pending(engine: Engine, step: str) -> bool:
    """Whether ``step`` must run: its last attempt failed, ads were written since it last
    succeeded, or it never ran on this database."""
    with engine.connect() as conn:
        pending = conn.execute(select(_steps.c.pending).where(_steps.c.step == step)).scalar()
    return pending is None or bool(pending)


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
