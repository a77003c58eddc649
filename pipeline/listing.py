"""Complete listings (whole bulk files): which stored ads they still contain.

A bulk collector that skips unchanged rows (:mod:`collectors.unchanged`) reads the scope's
row fingerprints through :func:`known_rows_reader` before it starts, and its closing Page
names the stored ads no row confirmed. :func:`close_listing` then marks delisted the ads the
listing no longer contained and moves ``last_seen_at`` of the confirmed ones in one statement
for the whole scope, so an unchanged ad costs no per-row work in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from sqlalchemy import Connection, Engine, Table, select, update

from pipeline.sqlutil import chunks
from schema.models import Ad

_ads: Table = Ad.__table__

#: Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
IN_CHUNK = 900


def known_rows_reader(engine: Engine) -> Callable[[str, str], Iterator[tuple[int | None, int]]]:
    """``(source, scope)`` → ``(raw_hash, ad id)`` of its listed ads, sorted by ``raw_hash``."""

    def read(source: str, scope: str) -> Iterator[tuple[int | None, int]]:
        t = _ads
        query = (
            select(t.c.raw_hash, t.c.id)
            .where(t.c.source == source, t.c.scope == scope, t.c.delisted_at.is_(None))
            .order_by(t.c.raw_hash.asc().nulls_first())
        )
        with engine.connect() as conn:
            yield from conn.execution_options(yield_per=20_000).execute(query)

    return read


def close_listing(
    conn: Connection,
    source: str,
    scope: str,
    started: datetime,
    now: datetime,
    unseen: list[int] | None,
) -> int:
    """Mark ads a complete listing no longer contained (never delete them); return how many.

    ``unseen`` (ids of ads no row confirmed) narrows the candidates when the collector skipped
    unchanged rows: those rows were not written, so ``last_seen_at`` alone cannot tell them
    from vanished ads. Their ``last_seen_at`` then moves to ``now`` in one statement.
    """
    t = _ads
    in_scope = (t.c.source == source, t.c.scope == scope, t.c.delisted_at.is_(None))
    delist = update(t).where(*in_scope, t.c.last_seen_at < started).values(delisted_at=now)
    if unseen is None:
        return int(conn.execute(delist).rowcount or 0)
    delisted = 0
    for part in chunks(sorted(unseen), IN_CHUNK):
        delisted += int(conn.execute(delist.where(t.c.id.in_(part))).rowcount or 0)
    conn.execute(update(t).where(*in_scope, t.c.last_seen_at < started).values(last_seen_at=now))
    return delisted
