"""Complete listings (whole bulk files): which stored ads they still contain.

A bulk collector that skips unchanged rows (:mod:`collectors.unchanged`) reads the scope's
row fingerprints through :func:`known_rows_reader` before it starts, and its closing Page
names the stored ads no row confirmed. :func:`close_listing` then marks delisted the ads the
listing no longer contained. An unchanged ad costs no write at all: its ``last_seen_at``
stays at the listing that last wrote it, and "listed now" is ``delisted_at IS NULL`` with the
listing's own time on the scope's checkpoint (``state.listed_at``); rewriting ``last_seen_at``
of every unchanged ad would cost a third of a nightly re-import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, literal, select, update

from collectors.records import Page
from pipeline.sqlutil import IN_CHUNK, chunks
from schema.models import Ad, table_of

_ads: Table = table_of(Ad)


def known_rows_reader(
    engine: Engine,
) -> Callable[[str, str], Iterator[Sequence[tuple[int | None, int]]]]:
    """``(source, scope)`` → batches of ``(raw_hash, ad id)`` of its listed ads, sorted by
    ``raw_hash``."""

    def read(source: str, scope: str) -> Iterator[Sequence[tuple[int | None, int]]]:
        t = _ads
        query = (
            select(t.c.raw_hash, t.c.id)
            .where(t.c.source == source, t.c.scope == scope, t.c.delisted_at.is_(None))
            .order_by(t.c.raw_hash.asc().nulls_first())
        )
        with engine.connect() as conn:
            if conn.dialect.name != "sqlite":
                result = conn.execution_options(yield_per=20_000).execute(query)
                for part in result.partitions():
                    yield [tuple(row) for row in part]
                return
            # SQLite: the driver's own cursor, because building a Row per ad costs three times
            # what SQLite takes to read a million of them.
            compiled = query.compile(dialect=conn.dialect)
            assert compiled.positiontup is not None
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(str(compiled), [compiled.params[k] for k in compiled.positiontup])
                while batch := cursor.fetchmany(20_000):
                    yield batch
            finally:
                cursor.close()

    return read


def close_listing(conn: Connection, page: Page, source: str, now: datetime) -> int:
    """Mark ads a complete listing no longer contained (never delete them); return how many.

    ``page.listing_unseen`` (ids of ads no row confirmed) narrows the candidates when the
    collector skipped unchanged rows: those were not written, so ``last_seen_at`` alone cannot
    tell them from vanished ads. A confirmed ad keeps the ``last_seen_at`` of the listing that
    last wrote it (the listing's own time is ``listed_at`` on the scope's checkpoint); a
    vanished one is last seen when the previous listing completed.
    """
    t = _ads
    assert page.listing_started_at is not None
    delist = update(t).where(
        t.c.source == source,
        t.c.scope == page.scope,
        t.c.delisted_at.is_(None),
        t.c.last_seen_at < page.listing_started_at,
    )
    if page.listing_unseen is None:
        return int(conn.execute(delist.values(delisted_at=now)).rowcount or 0)
    values: dict[str, Any] = {"delisted_at": now}
    if page.previous_listing_at is not None:
        previous = literal(page.previous_listing_at, t.c.last_seen_at.type)
        values["last_seen_at"] = case(
            (t.c.last_seen_at < previous, previous), else_=t.c.last_seen_at
        )
    delisted = 0
    for part in chunks(sorted(page.listing_unseen), IN_CHUNK):
        result = conn.execute(delist.where(t.c.id.in_(part)).values(**values))
        delisted += int(result.rowcount or 0)
    return delisted
